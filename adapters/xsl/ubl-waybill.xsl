<?xml version="1.0" encoding="UTF-8"?>
<!--
  ubl-waybill: OASIS UBL 2.x Waybill -> one canonical consignment per
  Shipment (a waybill carries one). Goods items become Items; without
  goods items, the consignment's tariff description and code make one.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:w="urn:oasis:names:specification:ubl:schema:xsd:Waybill-2"
    xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
    xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
    xmlns="urn:clearway:consignment:1"
    exclude-result-prefixes="w cac cbc">
  <xsl:output method="xml" encoding="UTF-8" indent="yes"/>

  <xsl:template name="text">
    <xsl:param name="name"/>
    <xsl:param name="value"/>
    <xsl:if test="normalize-space($value) != ''">
      <xsl:element name="{$name}"><xsl:value-of select="normalize-space($value)"/></xsl:element>
    </xsl:if>
  </xsl:template>

  <xsl:template name="country">
    <xsl:param name="name"/>
    <xsl:param name="value"/>
    <xsl:variable name="v" select="normalize-space($value)"/>
    <xsl:if test="string-length($v) = 2">
      <xsl:element name="{$name}">
        <xsl:value-of select="translate($v, 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')"/>
      </xsl:element>
    </xsl:if>
  </xsl:template>

  <xsl:template name="address">
    <xsl:param name="a"/>
    <xsl:if test="$a">
      <Address>
        <xsl:call-template name="text">
          <xsl:with-param name="name" select="'Line'"/>
          <xsl:with-param name="value" select="concat($a/cbc:StreetName, ' ', $a/cbc:BuildingNumber)"/>
        </xsl:call-template>
        <xsl:call-template name="text">
          <xsl:with-param name="name" select="'Line'"/>
          <xsl:with-param name="value" select="$a/cbc:AdditionalStreetName"/>
        </xsl:call-template>
        <xsl:call-template name="text">
          <xsl:with-param name="name" select="'City'"/>
          <xsl:with-param name="value" select="$a/cbc:CityName"/>
        </xsl:call-template>
        <xsl:call-template name="text">
          <xsl:with-param name="name" select="'PostalCode'"/>
          <xsl:with-param name="value" select="$a/cbc:PostalZone"/>
        </xsl:call-template>
        <xsl:call-template name="text">
          <xsl:with-param name="name" select="'Region'"/>
          <xsl:with-param name="value" select="$a/cbc:CountrySubentity"/>
        </xsl:call-template>
        <xsl:call-template name="country">
          <xsl:with-param name="name" select="'Country'"/>
          <xsl:with-param name="value" select="$a/cac:Country/cbc:IdentificationCode"/>
        </xsl:call-template>
      </Address>
    </xsl:if>
  </xsl:template>

  <xsl:template name="party">
    <xsl:param name="name"/>
    <xsl:param name="p"/>
    <xsl:if test="$p">
      <xsl:element name="{$name}">
        <xsl:variable name="id" select="$p/cac:PartyIdentification[1]/cbc:ID"/>
        <xsl:if test="normalize-space($id) != ''">
          <Id>
            <xsl:if test="$id/@schemeID">
              <xsl:attribute name="scheme"><xsl:value-of select="$id/@schemeID"/></xsl:attribute>
            </xsl:if>
            <xsl:value-of select="normalize-space($id)"/>
          </Id>
        </xsl:if>
        <xsl:call-template name="text">
          <xsl:with-param name="name" select="'Name'"/>
          <xsl:with-param name="value" select="$p/cac:PartyName[1]/cbc:Name"/>
        </xsl:call-template>
        <xsl:call-template name="address">
          <xsl:with-param name="a" select="$p/cac:PostalAddress"/>
        </xsl:call-template>
        <xsl:call-template name="text">
          <xsl:with-param name="name" select="'Phone'"/>
          <xsl:with-param name="value" select="$p/cac:Contact/cbc:Telephone"/>
        </xsl:call-template>
        <xsl:call-template name="text">
          <xsl:with-param name="name" select="'Email'"/>
          <xsl:with-param name="value" select="$p/cac:Contact/cbc:ElectronicMail"/>
        </xsl:call-template>
      </xsl:element>
    </xsl:if>
  </xsl:template>

  <xsl:template name="kg">
    <xsl:param name="name"/>
    <xsl:param name="m"/>
    <xsl:if test="normalize-space($m) != '' and (not($m/@unitCode) or $m/@unitCode = 'KGM')">
      <xsl:element name="{$name}"><xsl:value-of select="normalize-space($m)"/></xsl:element>
    </xsl:if>
  </xsl:template>

  <xsl:template match="/w:Waybill">
    <xsl:variable name="s" select="cac:Shipment[1]"/>
    <xsl:variable name="c" select="$s/cac:Consignment[1]"/>
    <xsl:variable name="consignee" select="($c/cac:ConsigneeParty | $s/cac:Delivery/cac:DeliveryParty | $c/cac:FinalDeliveryParty)[1]"/>
    <xsl:variable name="mode" select="normalize-space(($s/cac:ShipmentStage/cbc:TransportModeCode | $c/cac:MainCarriageShipmentStage/cbc:TransportModeCode)[1])"/>
    <Consignment>
      <ConsignmentId><xsl:value-of select="normalize-space(cbc:ID)"/></ConsignmentId>
      <xsl:call-template name="text">
        <xsl:with-param name="name" select="'TransportDocument'"/>
        <xsl:with-param name="value" select="(cbc:CarrierAssignedID | (cbc:ID)[not(current()/cbc:CarrierAssignedID)])[1]"/>
      </xsl:call-template>
      <xsl:call-template name="party">
        <xsl:with-param name="name" select="'Seller'"/>
        <xsl:with-param name="p" select="(cac:ConsignorParty | $c/cac:ConsignorParty)[1]"/>
      </xsl:call-template>
      <xsl:call-template name="party">
        <xsl:with-param name="name" select="'Buyer'"/>
        <xsl:with-param name="p" select="$consignee"/>
      </xsl:call-template>
      <xsl:call-template name="country">
        <xsl:with-param name="name" select="'DispatchCountry'"/>
        <xsl:with-param name="value" select="($c/cac:OriginalDepartureCountry/cbc:IdentificationCode | (cac:ConsignorParty/cac:PostalAddress/cac:Country/cbc:IdentificationCode)[not($c/cac:OriginalDepartureCountry/cbc:IdentificationCode)])[1]"/>
      </xsl:call-template>
      <xsl:call-template name="country">
        <xsl:with-param name="name" select="'DestinationCountry'"/>
        <xsl:with-param name="value" select="($c/cac:FinalDestinationCountry/cbc:IdentificationCode | ($consignee/cac:PostalAddress/cac:Country/cbc:IdentificationCode)[not($c/cac:FinalDestinationCountry/cbc:IdentificationCode)])[1]"/>
      </xsl:call-template>
      <!-- UN/ECE Recommendation 19 transport mode codes. -->
      <xsl:choose>
        <xsl:when test="$mode = '1'"><TransportMode>sea</TransportMode></xsl:when>
        <xsl:when test="$mode = '2'"><TransportMode>rail</TransportMode></xsl:when>
        <xsl:when test="$mode = '3'"><TransportMode>road</TransportMode></xsl:when>
        <xsl:when test="$mode = '4'"><TransportMode>air</TransportMode></xsl:when>
        <xsl:when test="$mode = '5'"><TransportMode>post</TransportMode></xsl:when>
        <xsl:when test="contains(cbc:Name, 'Air')"><TransportMode>air</TransportMode></xsl:when>
      </xsl:choose>
      <xsl:call-template name="text">
        <xsl:with-param name="name" select="'Currency'"/>
        <xsl:with-param name="value" select="$s/cbc:DeclaredCustomsValueAmount/@currencyID"/>
      </xsl:call-template>
      <xsl:call-template name="text">
        <xsl:with-param name="name" select="'GoodsValue'"/>
        <xsl:with-param name="value" select="$s/cbc:DeclaredCustomsValueAmount"/>
      </xsl:call-template>
      <!-- Insurance only when in the consignment currency. -->
      <xsl:if test="$s/cbc:InsuranceValueAmount/@currencyID = $s/cbc:DeclaredCustomsValueAmount/@currencyID">
        <Insurance><xsl:value-of select="normalize-space($s/cbc:InsuranceValueAmount)"/></Insurance>
      </xsl:if>
      <xsl:call-template name="kg">
        <xsl:with-param name="name" select="'GrossWeightKg'"/>
        <xsl:with-param name="m" select="$s/cbc:GrossWeightMeasure"/>
      </xsl:call-template>
      <xsl:apply-templates select="$s/cac:GoodsItem"/>
      <xsl:if test="not($s/cac:GoodsItem)">
        <Item line="1">
          <xsl:call-template name="text">
            <xsl:with-param name="name" select="'Description'"/>
            <xsl:with-param name="value" select="$c/cbc:TariffDescription"/>
          </xsl:call-template>
          <xsl:variable name="hs" select="translate(normalize-space($c/cbc:TariffCode), '. ', '')"/>
          <xsl:if test="$hs != '' and translate($hs, '0123456789', '') = '' and string-length($hs) &lt;= 12">
            <HsCode><xsl:value-of select="$hs"/></HsCode>
          </xsl:if>
        </Item>
      </xsl:if>
    </Consignment>
  </xsl:template>

  <xsl:template match="cac:GoodsItem">
    <xsl:variable name="c" select="../cac:Consignment[1]"/>
    <xsl:variable name="hs" select="translate(normalize-space((cbc:RequiredCustomsID | cac:Item/cac:CommodityClassification/cbc:ItemClassificationCode | $c/cbc:TariffCode)[1]), '. ', '')"/>
    <Item line="{position()}">
      <xsl:call-template name="text">
        <xsl:with-param name="name" select="'Description'"/>
        <xsl:with-param name="value" select="(cbc:Description | cac:Item/cbc:Description | cac:Item/cbc:Name | $c/cbc:TariffDescription)[1]"/>
      </xsl:call-template>
      <xsl:if test="$hs != '' and translate($hs, '0123456789', '') = '' and string-length($hs) &lt;= 12">
        <HsCode><xsl:value-of select="$hs"/></HsCode>
      </xsl:if>
      <xsl:call-template name="text">
        <xsl:with-param name="name" select="'Quantity'"/>
        <xsl:with-param name="value" select="cbc:Quantity"/>
      </xsl:call-template>
      <xsl:call-template name="text">
        <xsl:with-param name="name" select="'LineValue'"/>
        <xsl:with-param name="value" select="cbc:DeclaredCustomsValueAmount"/>
      </xsl:call-template>
      <xsl:call-template name="text">
        <xsl:with-param name="name" select="'Currency'"/>
        <xsl:with-param name="value" select="cbc:DeclaredCustomsValueAmount/@currencyID"/>
      </xsl:call-template>
      <xsl:call-template name="kg">
        <xsl:with-param name="name" select="'NetWeightKg'"/>
        <xsl:with-param name="m" select="cbc:NetWeightMeasure"/>
      </xsl:call-template>
      <xsl:call-template name="country">
        <xsl:with-param name="name" select="'Origin'"/>
        <xsl:with-param name="value" select="(cac:OriginCountry/cbc:IdentificationCode | cac:Item/cac:OriginCountry/cbc:IdentificationCode)[1]"/>
      </xsl:call-template>
    </Item>
  </xsl:template>
</xsl:stylesheet>

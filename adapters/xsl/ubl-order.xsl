<?xml version="1.0" encoding="UTF-8"?>
<!--
  ubl-order: OASIS UBL 2.x Order -> one canonical consignment
  (urn:clearway:consignment:1). Missing data are left out; the checks
  engine reports what a destination needs (DAT-001).
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:o="urn:oasis:names:specification:ubl:schema:xsd:Order-2"
    xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
    xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
    xmlns="urn:clearway:consignment:1"
    exclude-result-prefixes="o cac cbc">
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

  <xsl:template match="/o:Order">
    <xsl:variable name="delivery" select="cac:Delivery[1]"/>
    <xsl:variable name="dest" select="($delivery/cac:DeliveryLocation/cac:Address | $delivery/cac:DeliveryAddress)[1]"/>
    <Consignment>
      <ConsignmentId><xsl:value-of select="normalize-space(cbc:ID)"/></ConsignmentId>
      <xsl:call-template name="party">
        <xsl:with-param name="name" select="'Seller'"/>
        <xsl:with-param name="p" select="cac:SellerSupplierParty/cac:Party"/>
      </xsl:call-template>
      <xsl:call-template name="party">
        <xsl:with-param name="name" select="'Buyer'"/>
        <xsl:with-param name="p" select="cac:BuyerCustomerParty/cac:Party"/>
      </xsl:call-template>
      <xsl:if test="$delivery/cac:DeliveryParty or $dest">
        <Consignee>
          <xsl:call-template name="text">
            <xsl:with-param name="name" select="'Name'"/>
            <xsl:with-param name="value" select="($delivery/cac:DeliveryParty/cac:PartyName/cbc:Name | (cac:BuyerCustomerParty/cac:DeliveryContact/cbc:Name)[not($delivery/cac:DeliveryParty/cac:PartyName/cbc:Name)])[1]"/>
          </xsl:call-template>
          <xsl:call-template name="address">
            <xsl:with-param name="a" select="$dest"/>
          </xsl:call-template>
        </Consignee>
      </xsl:if>
      <xsl:call-template name="country">
        <xsl:with-param name="name" select="'DispatchCountry'"/>
        <xsl:with-param name="value" select="cac:SellerSupplierParty/cac:Party/cac:PostalAddress/cac:Country/cbc:IdentificationCode"/>
      </xsl:call-template>
      <xsl:call-template name="country">
        <xsl:with-param name="name" select="'DestinationCountry'"/>
        <xsl:with-param name="value" select="($dest/cac:Country/cbc:IdentificationCode | (cac:BuyerCustomerParty/cac:Party/cac:PostalAddress/cac:Country/cbc:IdentificationCode)[not($dest/cac:Country/cbc:IdentificationCode)])[1]"/>
      </xsl:call-template>
      <ContentType>sale</ContentType>
      <Order>
        <Number><xsl:value-of select="normalize-space(cbc:ID)"/></Number>
        <xsl:call-template name="text">
          <xsl:with-param name="name" select="'Date'"/>
          <xsl:with-param name="value" select="cbc:IssueDate"/>
        </xsl:call-template>
      </Order>
      <xsl:call-template name="text">
        <xsl:with-param name="name" select="'Currency'"/>
        <xsl:with-param name="value" select="(cbc:DocumentCurrencyCode | cac:AnticipatedMonetaryTotal/cbc:LineExtensionAmount/@currencyID)[1]"/>
      </xsl:call-template>
      <xsl:call-template name="text">
        <xsl:with-param name="name" select="'GoodsValue'"/>
        <xsl:with-param name="value" select="cac:AnticipatedMonetaryTotal/cbc:LineExtensionAmount"/>
      </xsl:call-template>
      <xsl:if test="cac:AllowanceCharge[cbc:ChargeIndicator = 'true']">
        <Freight><xsl:value-of select="sum(cac:AllowanceCharge[cbc:ChargeIndicator = 'true']/cbc:Amount)"/></Freight>
      </xsl:if>
      <xsl:if test="cac:AllowanceCharge[cbc:ChargeIndicator = 'false']">
        <Discount><xsl:value-of select="sum(cac:AllowanceCharge[cbc:ChargeIndicator = 'false']/cbc:Amount)"/></Discount>
      </xsl:if>
      <xsl:apply-templates select="cac:OrderLine/cac:LineItem"/>
      <xsl:if test="not(cac:OrderLine/cac:LineItem)"><Item/></xsl:if>
    </Consignment>
  </xsl:template>

  <xsl:template match="cac:LineItem">
    <xsl:variable name="hs" select="translate(normalize-space((cac:Item/cac:CommodityClassification/cbc:ItemClassificationCode[@listID = 'HS'] | cac:Item/cac:CommodityClassification/cbc:ItemClassificationCode)[1]), '. ', '')"/>
    <Item line="{position()}">
      <xsl:call-template name="text">
        <xsl:with-param name="name" select="'Description'"/>
        <xsl:with-param name="value" select="(cac:Item/cbc:Description | cac:Item/cbc:Name)[1]"/>
      </xsl:call-template>
      <xsl:if test="$hs != '' and translate($hs, '0123456789', '') = '' and string-length($hs) &lt;= 12">
        <HsCode><xsl:value-of select="$hs"/></HsCode>
      </xsl:if>
      <xsl:if test="normalize-space(cbc:Quantity) != ''">
        <Quantity>
          <xsl:if test="cbc:Quantity/@unitCode">
            <xsl:attribute name="unit"><xsl:value-of select="cbc:Quantity/@unitCode"/></xsl:attribute>
          </xsl:if>
          <xsl:value-of select="normalize-space(cbc:Quantity)"/>
        </Quantity>
      </xsl:if>
      <xsl:call-template name="text">
        <xsl:with-param name="name" select="'UnitValue'"/>
        <xsl:with-param name="value" select="cac:Price/cbc:PriceAmount"/>
      </xsl:call-template>
      <xsl:call-template name="text">
        <xsl:with-param name="name" select="'LineValue'"/>
        <xsl:with-param name="value" select="cbc:LineExtensionAmount"/>
      </xsl:call-template>
      <xsl:call-template name="country">
        <xsl:with-param name="name" select="'Origin'"/>
        <xsl:with-param name="value" select="cac:Item/cac:OriginCountry/cbc:IdentificationCode"/>
      </xsl:call-template>
      <xsl:call-template name="text">
        <xsl:with-param name="name" select="'Sku'"/>
        <xsl:with-param name="value" select="cac:Item/cac:SellersItemIdentification/cbc:ID"/>
      </xsl:call-template>
    </Item>
  </xsl:template>
</xsl:stylesheet>

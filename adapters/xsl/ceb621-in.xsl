<?xml version="1.0" encoding="UTF-8"?>
<!--
  ceb621 (in): China customs CEB621Message (import inventory lists) ->
  one canonical consignment per ceb:Inventory. Used to read back what
  ceb621-out.xsl wrote, and for partners that file inventories themselves.
  Codes (country, currency) are mapped through ceb-codes.xml in this folder.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:ceb="http://www.chinaport.gov.cn/ceb"
    xmlns:k="urn:clearway:adapter:ceb-codes"
    xmlns:cwa="urn:clearway:adapter:1"
    xmlns="urn:clearway:consignment:1"
    exclude-result-prefixes="ceb k">
  <xsl:output method="xml" encoding="UTF-8" indent="yes"/>

  <xsl:variable name="codes" select="document('ceb-codes.xml')/k:codes"/>

  <xsl:template name="text">
    <xsl:param name="name"/>
    <xsl:param name="value"/>
    <xsl:if test="normalize-space($value) != ''">
      <xsl:element name="{$name}"><xsl:value-of select="normalize-space($value)"/></xsl:element>
    </xsl:if>
  </xsl:template>

  <!-- A customs country code as an ISO element (absent when unknown). -->
  <xsl:template name="country">
    <xsl:param name="name"/>
    <xsl:param name="ceb"/>
    <xsl:variable name="iso" select="$codes/k:country[@ceb = normalize-space($ceb)]/@iso"/>
    <xsl:if test="$iso">
      <xsl:element name="{$name}"><xsl:value-of select="$iso"/></xsl:element>
    </xsl:if>
  </xsl:template>

  <xsl:template name="currency">
    <xsl:param name="ceb"/>
    <xsl:variable name="iso" select="$codes/k:currency[@ceb = normalize-space($ceb)]/@iso"/>
    <xsl:if test="$iso">
      <Currency><xsl:value-of select="$iso"/></Currency>
    </xsl:if>
  </xsl:template>

  <!-- appTime YYYYMMDDhhmmss (or declTime YYYYMMDD) as an xs:date. -->
  <xsl:template name="date">
    <xsl:param name="t"/>
    <xsl:variable name="v" select="normalize-space($t)"/>
    <xsl:if test="string-length($v) &gt;= 8 and translate(substring($v, 1, 8), '0123456789', '') = ''">
      <Date><xsl:value-of select="concat(substring($v, 1, 4), '-', substring($v, 5, 2), '-', substring($v, 7, 2))"/></Date>
    </xsl:if>
  </xsl:template>

  <xsl:template name="party">
    <xsl:param name="name"/>
    <xsl:param name="code"/>
    <xsl:param name="title"/>
    <xsl:param name="scheme"/>
    <xsl:if test="normalize-space($code) != '' or normalize-space($title) != ''">
      <xsl:element name="{$name}">
        <xsl:if test="normalize-space($code) != ''">
          <Id scheme="{$scheme}"><xsl:value-of select="normalize-space($code)"/></Id>
        </xsl:if>
        <xsl:call-template name="text">
          <xsl:with-param name="name" select="'Name'"/>
          <xsl:with-param name="value" select="$title"/>
        </xsl:call-template>
      </xsl:element>
    </xsl:if>
  </xsl:template>

  <!-- The buyer: id card number (buyerIdType 1) as CN-ID. -->
  <xsl:template name="buyer">
    <xsl:param name="idtype"/>
    <xsl:param name="id"/>
    <xsl:param name="title"/>
    <xsl:param name="phone"/>
    <xsl:param name="address"/>
    <Buyer>
      <xsl:if test="normalize-space($id) != ''">
        <Id>
          <xsl:attribute name="scheme">
            <xsl:choose>
              <xsl:when test="normalize-space($idtype) = '1'">CN-ID</xsl:when>
              <xsl:otherwise>OTHER</xsl:otherwise>
            </xsl:choose>
          </xsl:attribute>
          <xsl:value-of select="normalize-space($id)"/>
        </Id>
      </xsl:if>
      <xsl:call-template name="text">
        <xsl:with-param name="name" select="'Name'"/>
        <xsl:with-param name="value" select="$title"/>
      </xsl:call-template>
      <!-- In retail import (1210/9610) the orderer is the taxpayer and the
           parcel goes to them: consigneeAddress is the buyer's address too,
           which the CN profile requires. -->
      <xsl:if test="normalize-space($address) != ''">
        <Address>
          <Line><xsl:value-of select="normalize-space($address)"/></Line>
          <Country>CN</Country>
        </Address>
      </xsl:if>
      <xsl:call-template name="text">
        <xsl:with-param name="name" select="'Phone'"/>
        <xsl:with-param name="value" select="$phone"/>
      </xsl:call-template>
    </Buyer>
  </xsl:template>

  <xsl:template name="consignee">
    <xsl:param name="title"/>
    <xsl:param name="address"/>
    <xsl:param name="phone"/>
    <Consignee>
      <xsl:call-template name="text">
        <xsl:with-param name="name" select="'Name'"/>
        <xsl:with-param name="value" select="$title"/>
      </xsl:call-template>
      <Address>
        <xsl:call-template name="text">
          <xsl:with-param name="name" select="'Line'"/>
          <xsl:with-param name="value" select="$address"/>
        </xsl:call-template>
        <Country>CN</Country>
      </Address>
      <xsl:call-template name="text">
        <xsl:with-param name="name" select="'Phone'"/>
        <xsl:with-param name="value" select="$phone"/>
      </xsl:call-template>
    </Consignee>
  </xsl:template>

  <xsl:template match="/">
    <cwa:Result>
      <xsl:for-each select="/ceb:CEB621Message/ceb:Inventory">
        <cwa:Document item="{position() - 1}" line="{cwa:line(.)}">
          <xsl:apply-templates select="ceb:InventoryHead"/>
        </cwa:Document>
      </xsl:for-each>
    </cwa:Result>
  </xsl:template>

  <xsl:template match="ceb:InventoryHead">
    <xsl:variable name="h" select="."/>
    <xsl:variable name="mode" select="$codes/k:mode[@ceb = normalize-space($h/ceb:trafMode)]/@iso"/>
    <Consignment>
      <ConsignmentId><xsl:value-of select="normalize-space((ceb:copNo[normalize-space(.) != ''] | ceb:orderNo)[1])"/></ConsignmentId>
      <xsl:call-template name="text">
        <xsl:with-param name="name" select="'TransportDocument'"/>
        <xsl:with-param name="value" select="ceb:logisticsNo"/>
      </xsl:call-template>
      <Filing>import</Filing>
      <xsl:if test="normalize-space($h/ceb:ebpCode) != ''">
        <Platform>
          <Id scheme="CNEBP"><xsl:value-of select="normalize-space($h/ceb:ebpCode)"/></Id>
          <xsl:call-template name="text">
        <xsl:with-param name="name" select="'Name'"/>
        <xsl:with-param name="value" select="$h/ceb:ebpName"/>
      </xsl:call-template>
          <Registration scheme="CNEBP"><xsl:value-of select="normalize-space($h/ceb:ebpCode)"/></Registration>
        </Platform>
      </xsl:if>
      <xsl:call-template name="party">
        <xsl:with-param name="name" select="'Seller'"/>
        <xsl:with-param name="code" select="$h/ceb:ebcCode"/>
        <xsl:with-param name="title" select="$h/ceb:ebcName"/>
        <xsl:with-param name="scheme" select="'CN-CUSTOMS'"/>
      </xsl:call-template>
      <xsl:call-template name="buyer">
        <xsl:with-param name="idtype" select="ceb:buyerIdType"/>
        <xsl:with-param name="id" select="ceb:buyerIdNumber"/>
        <xsl:with-param name="title" select="ceb:buyerName"/>
        <xsl:with-param name="phone" select="ceb:buyerTelephone"/>
        <xsl:with-param name="address" select="ceb:consigneeAddress"/>
      </xsl:call-template>
      <Consignee>
        <xsl:call-template name="text">
          <xsl:with-param name="name" select="'Name'"/>
          <xsl:with-param name="value" select="ceb:buyerName"/>
        </xsl:call-template>
        <Address>
          <xsl:call-template name="text">
            <xsl:with-param name="name" select="'Line'"/>
            <xsl:with-param name="value" select="ceb:consigneeAddress"/>
          </xsl:call-template>
          <Country>CN</Country>
        </Address>
      </Consignee>
      <xsl:call-template name="country">
        <xsl:with-param name="name" select="'DispatchCountry'"/>
        <xsl:with-param name="ceb" select="ceb:country"/>
      </xsl:call-template>
      <DestinationCountry>CN</DestinationCountry>
      <xsl:if test="$mode"><TransportMode><xsl:value-of select="$mode"/></TransportMode></xsl:if>
      <ContentType>sale</ContentType>
      <Order>
        <Number><xsl:value-of select="normalize-space(ceb:orderNo)"/></Number>
      </Order>
      <xsl:call-template name="currency">
        <xsl:with-param name="ceb" select="$h/ceb:currency"/>
      </xsl:call-template>
      <xsl:if test="../ceb:InventoryList/ceb:totalPrice">
        <GoodsValue><xsl:value-of select="sum(../ceb:InventoryList/ceb:totalPrice)"/></GoodsValue>
      </xsl:if>
      <xsl:call-template name="text">
        <xsl:with-param name="name" select="'Freight'"/>
        <xsl:with-param name="value" select="ceb:freight"/>
      </xsl:call-template>
      <xsl:call-template name="text">
        <xsl:with-param name="name" select="'Insurance'"/>
        <xsl:with-param name="value" select="ceb:insuredFee"/>
      </xsl:call-template>
      <xsl:call-template name="text">
        <xsl:with-param name="name" select="'GrossWeightKg'"/>
        <xsl:with-param name="value" select="ceb:grossWeight"/>
      </xsl:call-template>
      <xsl:apply-templates select="../ceb:InventoryList"/>
      <xsl:if test="not(../ceb:InventoryList)"><Item/></xsl:if>
    </Consignment>
  </xsl:template>

  <xsl:template match="ceb:OrderList | ceb:InventoryList">
    <Item>
      <xsl:if test="number(ceb:gnum) &gt; 0">
        <xsl:attribute name="line"><xsl:value-of select="number(ceb:gnum)"/></xsl:attribute>
      </xsl:if>
      <xsl:call-template name="text">
        <xsl:with-param name="name" select="'Description'"/>
        <xsl:with-param name="value" select="(ceb:itemName | ceb:gname)[1]"/>
      </xsl:call-template>
      <xsl:if test="ceb:gcode and translate(normalize-space(ceb:gcode), '0123456789', '') = ''">
        <xsl:call-template name="text">
          <xsl:with-param name="name" select="'HsCode'"/>
          <xsl:with-param name="value" select="ceb:gcode"/>
        </xsl:call-template>
      </xsl:if>
      <xsl:call-template name="text">
        <xsl:with-param name="name" select="'Quantity'"/>
        <xsl:with-param name="value" select="ceb:qty"/>
      </xsl:call-template>
      <xsl:call-template name="text">
        <xsl:with-param name="name" select="'UnitValue'"/>
        <xsl:with-param name="value" select="ceb:price"/>
      </xsl:call-template>
      <xsl:call-template name="text">
        <xsl:with-param name="name" select="'LineValue'"/>
        <xsl:with-param name="value" select="ceb:totalPrice"/>
      </xsl:call-template>
      <xsl:call-template name="currency">
        <xsl:with-param name="ceb" select="ceb:currency"/>
      </xsl:call-template>
      <xsl:call-template name="country">
        <xsl:with-param name="name" select="'Origin'"/>
        <xsl:with-param name="ceb" select="ceb:country"/>
      </xsl:call-template>
      <xsl:call-template name="text">
        <xsl:with-param name="name" select="'Sku'"/>
        <xsl:with-param name="value" select="ceb:itemNo"/>
      </xsl:call-template>
    </Item>
  </xsl:template>
</xsl:stylesheet>

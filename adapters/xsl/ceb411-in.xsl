<?xml version="1.0" encoding="UTF-8"?>
<!--
  ceb411: China customs CEB411Message (payment slips) -> one canonical
  consignment per ceb:Payment, carrying the payment data of an order. A
  payment has no goods: the consignment has one empty Item (the schema
  needs one), so DAT-001 reports the goods data as missing.
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
      <xsl:for-each select="/ceb:CEB411Message/ceb:Payment">
        <cwa:Document item="{position() - 1}" line="{cwa:line(.)}">
          <xsl:apply-templates select="ceb:PaymentHead"/>
        </cwa:Document>
      </xsl:for-each>
    </cwa:Result>
  </xsl:template>

  <xsl:template match="ceb:PaymentHead">
    <xsl:variable name="h" select="."/>
    <Consignment>
      <ConsignmentId><xsl:value-of select="normalize-space(ceb:orderNo)"/></ConsignmentId>
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
      <xsl:call-template name="buyer">
        <xsl:with-param name="idtype" select="ceb:payerIdType"/>
        <xsl:with-param name="id" select="ceb:payerIdNumber"/>
        <xsl:with-param name="title" select="ceb:payerName"/>
        <xsl:with-param name="phone" select="ceb:telephone"/>
      </xsl:call-template>
      <DestinationCountry>CN</DestinationCountry>
      <Order>
        <Number><xsl:value-of select="normalize-space($h/ceb:orderNo)"/></Number>
        <xsl:call-template name="date">
          <xsl:with-param name="t" select="$h/ceb:appTime"/>
        </xsl:call-template>
      </Order>
      <Payment>
        <xsl:call-template name="text">
          <xsl:with-param name="name" select="'Reference'"/>
          <xsl:with-param name="value" select="ceb:payTransactionId"/>
        </xsl:call-template>
        <xsl:call-template name="text">
          <xsl:with-param name="name" select="'Amount'"/>
          <xsl:with-param name="value" select="ceb:amountPaid"/>
        </xsl:call-template>
        <xsl:call-template name="text">
          <xsl:with-param name="name" select="'Payer'"/>
          <xsl:with-param name="value" select="ceb:payerName"/>
        </xsl:call-template>
      </Payment>
      <xsl:call-template name="currency">
        <xsl:with-param name="ceb" select="$h/ceb:currency"/>
      </xsl:call-template>
      <Item/>
    </Consignment>
  </xsl:template>
</xsl:stylesheet>

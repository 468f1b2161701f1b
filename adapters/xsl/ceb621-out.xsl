<?xml version="1.0" encoding="UTF-8"?>
<!--
  ceb621 (out): one canonical consignment -> an unsigned CEB621Message
  (China customs import inventory list, 2022-05 schema) with one Inventory.

  The customs XSD requires ds:Signature as the last child of the message:
  the caller signs the result with the node key (enveloped XML-DSig over
  URI="", see docs/adapters.md). Values the canonical document does not
  carry (customs and port codes, the logistics company, the DXP id, the
  record numbers) are written empty for the partner's filer to complete,
  or come from the route's configuration once the daemon passes them.

  Parameters (set by the adapter): guid (36 upper-case characters),
  app_time (YYYYMMDDhhmmss, UTC), partner (the partner id).
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:c="urn:clearway:consignment:1"
    xmlns:k="urn:clearway:adapter:ceb-codes"
    xmlns:ceb="http://www.chinaport.gov.cn/ceb"
    exclude-result-prefixes="c k">
  <xsl:output method="xml" encoding="UTF-8" indent="yes"/>

  <xsl:param name="guid" select="'00000000-0000-0000-0000-000000000000'"/>
  <xsl:param name="app_time" select="'20000101000000'"/>
  <xsl:param name="partner" select="''"/>

  <xsl:variable name="codes" select="document('ceb-codes.xml')/k:codes"/>

  <xsl:template name="v">
    <xsl:param name="name"/>
    <xsl:param name="value"/>
    <xsl:element name="ceb:{$name}"><xsl:value-of select="normalize-space($value)"/></xsl:element>
  </xsl:template>

  <xsl:template match="/c:Consignment">
    <xsl:variable name="buyer" select="c:Buyer"/>
    <xsl:variable name="addr" select="(c:Consignee/c:Address | c:Buyer/c:Address)[1]"/>
    <xsl:variable name="cur" select="$codes/k:currency[@iso = normalize-space(current()/c:Currency)]/@ceb"/>
    <ceb:CEB621Message guid="{$guid}" version="1.0">
      <ceb:Inventory>
        <ceb:InventoryHead>
          <ceb:guid><xsl:value-of select="$guid"/></ceb:guid>
          <ceb:appType>1</ceb:appType>
          <ceb:appTime><xsl:value-of select="$app_time"/></ceb:appTime>
          <ceb:appStatus>2</ceb:appStatus>
          <xsl:call-template name="v"><xsl:with-param name="name" select="'orderNo'"/><xsl:with-param name="value" select="(c:Order/c:Number | c:ConsignmentId)[1]"/></xsl:call-template>
          <xsl:call-template name="v"><xsl:with-param name="name" select="'ebpCode'"/><xsl:with-param name="value" select="c:Platform/c:Id"/></xsl:call-template>
          <xsl:call-template name="v"><xsl:with-param name="name" select="'ebpName'"/><xsl:with-param name="value" select="c:Platform/c:Name"/></xsl:call-template>
          <xsl:call-template name="v"><xsl:with-param name="name" select="'ebcCode'"/><xsl:with-param name="value" select="c:Seller/c:Id"/></xsl:call-template>
          <xsl:call-template name="v"><xsl:with-param name="name" select="'ebcName'"/><xsl:with-param name="value" select="c:Seller/c:Name"/></xsl:call-template>
          <xsl:call-template name="v"><xsl:with-param name="name" select="'logisticsNo'"/><xsl:with-param name="value" select="c:TransportDocument"/></xsl:call-template>
          <ceb:logisticsCode/>
          <ceb:logisticsName/>
          <xsl:call-template name="v"><xsl:with-param name="name" select="'copNo'"/><xsl:with-param name="value" select="c:ConsignmentId"/></xsl:call-template>
          <ceb:preNo/>
          <ceb:assureCode/>
          <ceb:emsNo/>
          <ceb:invtNo/>
          <ceb:ieFlag>I</ceb:ieFlag>
          <ceb:declTime><xsl:value-of select="substring($app_time, 1, 8)"/></ceb:declTime>
          <ceb:customsCode/>
          <ceb:portCode/>
          <ceb:ieDate><xsl:value-of select="substring($app_time, 1, 8)"/></ceb:ieDate>
          <ceb:buyerIdType>
            <xsl:choose>
              <xsl:when test="$buyer/c:Id/@scheme = 'CN-ID'">1</xsl:when>
              <xsl:otherwise>2</xsl:otherwise>
            </xsl:choose>
          </ceb:buyerIdType>
          <xsl:call-template name="v"><xsl:with-param name="name" select="'buyerIdNumber'"/><xsl:with-param name="value" select="$buyer/c:Id"/></xsl:call-template>
          <xsl:call-template name="v"><xsl:with-param name="name" select="'buyerName'"/><xsl:with-param name="value" select="$buyer/c:Name"/></xsl:call-template>
          <xsl:call-template name="v"><xsl:with-param name="name" select="'buyerTelephone'"/><xsl:with-param name="value" select="$buyer/c:Phone"/></xsl:call-template>
          <xsl:call-template name="v"><xsl:with-param name="name" select="'consigneeAddress'"/><xsl:with-param name="value" select="concat($addr/c:Region, ' ', $addr/c:City, ' ', $addr/c:Line[1], ' ', $addr/c:Line[2])"/></xsl:call-template>
          <ceb:agentCode/>
          <ceb:agentName/>
          <ceb:areaCode/>
          <ceb:areaName/>
          <ceb:tradeMode>9610</ceb:tradeMode>
          <xsl:call-template name="v"><xsl:with-param name="name" select="'trafMode'"/><xsl:with-param name="value" select="$codes/k:mode[@iso = normalize-space(current()/c:TransportMode)]/@ceb"/></xsl:call-template>
          <ceb:trafNo/>
          <ceb:voyageNo/>
          <ceb:billNo/>
          <ceb:loctNo/>
          <ceb:licenseNo/>
          <xsl:call-template name="v"><xsl:with-param name="name" select="'country'"/><xsl:with-param name="value" select="$codes/k:country[@iso = normalize-space(current()/c:DispatchCountry)]/@ceb"/></xsl:call-template>
          <ceb:freight><xsl:value-of select="normalize-space(c:Freight)"/><xsl:if test="not(c:Freight)">0</xsl:if></ceb:freight>
          <ceb:insuredFee><xsl:value-of select="normalize-space(c:Insurance)"/><xsl:if test="not(c:Insurance)">0</xsl:if></ceb:insuredFee>
          <ceb:currency><xsl:value-of select="$cur"/></ceb:currency>
          <ceb:wrapType/>
          <ceb:packNo>1</ceb:packNo>
          <xsl:call-template name="v"><xsl:with-param name="name" select="'grossWeight'"/><xsl:with-param name="value" select="c:GrossWeightKg"/></xsl:call-template>
          <ceb:netWeight>
            <xsl:choose>
              <xsl:when test="c:Item/c:NetWeightKg"><xsl:value-of select="sum(c:Item/c:NetWeightKg)"/></xsl:when>
              <xsl:otherwise><xsl:value-of select="normalize-space(c:GrossWeightKg)"/></xsl:otherwise>
            </xsl:choose>
          </ceb:netWeight>
          <ceb:note/>
        </ceb:InventoryHead>
        <xsl:apply-templates select="c:Item"/>
      </ceb:Inventory>
      <ceb:BaseTransfer>
        <ceb:copCode><xsl:value-of select="$partner"/></ceb:copCode>
        <ceb:copName/>
        <ceb:dxpMode>DXP</ceb:dxpMode>
        <ceb:dxpId/>
        <ceb:note/>
      </ceb:BaseTransfer>
    </ceb:CEB621Message>
  </xsl:template>

  <xsl:template match="c:Item">
    <xsl:variable name="cons" select=".."/>
    <xsl:variable name="qty" select="normalize-space(c:Quantity)"/>
    <xsl:variable name="cur" select="normalize-space((c:Currency | $cons/c:Currency)[1])"/>
    <ceb:InventoryList>
      <ceb:gnum><xsl:value-of select="position()"/></ceb:gnum>
      <ceb:itemRecordNo/>
      <xsl:call-template name="v"><xsl:with-param name="name" select="'itemNo'"/><xsl:with-param name="value" select="c:Sku"/></xsl:call-template>
      <xsl:call-template name="v"><xsl:with-param name="name" select="'itemName'"/><xsl:with-param name="value" select="c:Description"/></xsl:call-template>
      <xsl:call-template name="v"><xsl:with-param name="name" select="'gcode'"/><xsl:with-param name="value" select="c:HsCode"/></xsl:call-template>
      <xsl:call-template name="v"><xsl:with-param name="name" select="'gname'"/><xsl:with-param name="value" select="c:Description"/></xsl:call-template>
      <xsl:call-template name="v"><xsl:with-param name="name" select="'gmodel'"/><xsl:with-param name="value" select="c:Description"/></xsl:call-template>
      <ceb:barCode/>
      <xsl:call-template name="v"><xsl:with-param name="name" select="'country'"/><xsl:with-param name="value" select="$codes/k:country[@iso = normalize-space(current()/c:Origin)]/@ceb"/></xsl:call-template>
      <xsl:call-template name="v"><xsl:with-param name="name" select="'tradeCountry'"/><xsl:with-param name="value" select="$codes/k:country[@iso = normalize-space($cons/c:DispatchCountry)]/@ceb"/></xsl:call-template>
      <xsl:call-template name="v"><xsl:with-param name="name" select="'currency'"/><xsl:with-param name="value" select="$codes/k:currency[@iso = $cur]/@ceb"/></xsl:call-template>
      <ceb:qty><xsl:value-of select="$qty"/></ceb:qty>
      <ceb:unit>007</ceb:unit>
      <ceb:qty1><xsl:value-of select="$qty"/></ceb:qty1>
      <ceb:unit1>007</ceb:unit1>
      <ceb:price>
        <xsl:choose>
          <xsl:when test="c:UnitValue"><xsl:value-of select="normalize-space(c:UnitValue)"/></xsl:when>
          <xsl:when test="c:LineValue and number($qty) &gt; 0"><xsl:value-of select="round(c:LineValue div number($qty) * 10000) div 10000"/></xsl:when>
        </xsl:choose>
      </ceb:price>
      <ceb:totalPrice>
        <xsl:choose>
          <xsl:when test="c:LineValue"><xsl:value-of select="normalize-space(c:LineValue)"/></xsl:when>
          <xsl:when test="c:UnitValue and $qty != ''"><xsl:value-of select="c:UnitValue * number($qty)"/></xsl:when>
        </xsl:choose>
      </ceb:totalPrice>
      <ceb:note/>
    </ceb:InventoryList>
  </xsl:template>
</xsl:stylesheet>

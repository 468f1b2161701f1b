<?xml version="1.0"?>
<!-- 2^40 template calls, never deeper than 40: only the step budget stops it. -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns="urn:clearway:consignment:1">
  <xsl:template name="f">
    <xsl:param name="n"/>
    <xsl:if test="$n &gt; 0">
      <xsl:call-template name="f"><xsl:with-param name="n" select="$n - 1"/></xsl:call-template>
      <xsl:call-template name="f"><xsl:with-param name="n" select="$n - 1"/></xsl:call-template>
    </xsl:if>
  </xsl:template>
  <xsl:template match="/">
    <xsl:call-template name="f"><xsl:with-param name="n" select="40"/></xsl:call-template>
    <Consignment><ConsignmentId>never</ConsignmentId><DestinationCountry>GB</DestinationCountry><Item/></Consignment>
  </xsl:template>
</xsl:stylesheet>

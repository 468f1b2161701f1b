<?xml version="1.0"?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns="urn:clearway:consignment:1">
  <xsl:template match="/">
    <Consignment>
      <ConsignmentId><xsl:value-of select="count(document('../ubl-order.xml')//*)"/></ConsignmentId>
      <DestinationCountry>GB</DestinationCountry>
      <Item/>
    </Consignment>
  </xsl:template>
</xsl:stylesheet>

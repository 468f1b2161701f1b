<?xml version="1.0"?>
<xsl:stylesheet version="1.1" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns="urn:clearway:consignment:1">
  <xsl:template match="/">
    <xsl:document href="/tmp/clearway-xslt-escape.txt" method="text">owned</xsl:document>
    <Consignment>
      <ConsignmentId>W1</ConsignmentId>
      <DestinationCountry>GB</DestinationCountry>
      <Item/>
    </Consignment>
  </xsl:template>
</xsl:stylesheet>

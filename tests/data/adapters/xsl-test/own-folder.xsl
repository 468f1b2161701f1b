<?xml version="1.0"?>
<!-- Reads a table from its own folder: allowed. -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns="urn:clearway:consignment:1" xmlns:t="urn:test:table" exclude-result-prefixes="t">
  <xsl:template match="/">
    <Consignment>
      <ConsignmentId><xsl:value-of select="document('table.xml')/t:table/t:id"/></ConsignmentId>
      <DestinationCountry>GB</DestinationCountry>
      <Item/>
    </Consignment>
  </xsl:template>
</xsl:stylesheet>

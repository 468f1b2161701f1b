<?xml version="1.0"?>
<!-- Refuses any input whose root is not {urn:example:parcels}parcels. -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:p="urn:example:parcels" xmlns="urn:clearway:consignment:1">
  <xsl:template match="/*">
    <xsl:message terminate="yes">not a parcels file</xsl:message>
  </xsl:template>
  <xsl:template match="/p:parcels">
    <Consignment><ConsignmentId>P</ConsignmentId><DestinationCountry>GB</DestinationCountry><Item/></Consignment>
  </xsl:template>
</xsl:stylesheet>

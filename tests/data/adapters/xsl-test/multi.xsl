<?xml version="1.0"?>
<!-- The Result form: one Document per <parcel>, an Error for a parcel without id. -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:cwa="urn:clearway:adapter:1" xmlns="urn:clearway:consignment:1">
  <xsl:template match="/parcels">
    <cwa:Result>
      <xsl:for-each select="parcel">
        <xsl:choose>
          <xsl:when test="@id">
            <cwa:Document item="{position() - 1}" line="{cwa:line(.)}">
              <Consignment>
                <ConsignmentId><xsl:value-of select="@id"/></ConsignmentId>
                <DestinationCountry><xsl:value-of select="@to"/></DestinationCountry>
                <Item><Description><xsl:value-of select="."/></Description></Item>
              </Consignment>
            </cwa:Document>
          </xsl:when>
          <xsl:otherwise>
            <cwa:Error item="{position() - 1}" line="{cwa:line(.)}" field="parcel/@id">the parcel has no id</cwa:Error>
          </xsl:otherwise>
        </xsl:choose>
      </xsl:for-each>
    </cwa:Result>
  </xsl:template>
</xsl:stylesheet>

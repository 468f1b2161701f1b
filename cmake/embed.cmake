# Turns IN into a C source OUT defining "const char VAR[]" and "VAR_len".
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT} "/* Generated from ${IN}; do not edit. */\n#include <stddef.h>\n"
  "extern const char ${VAR}[];\nextern const size_t ${VAR}_len;\n"
  "const char ${VAR}[] = {${bytes}0x00};\nconst size_t ${VAR}_len = ${len};\n")

# Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
#
# cmake -DSOURCE=<file> -DDOC=<file> -DMARKER=<name> -P check_doc_quote.cmake
#
# The lines of SOURCE between the two lines that hold "[MARKER]" must appear verbatim in DOC,
# less two spaces of indentation (the kernel body's), so that the documentation quotes code
# that is compiled and run.
foreach(var SOURCE DOC MARKER)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_doc_quote.cmake: -D${var}=... is required")
  endif()
endforeach()

file(READ "${SOURCE}" source)
set(tag "[${MARKER}]")
string(FIND "${source}" "${tag}" first)
if(first EQUAL -1)
  message(FATAL_ERROR "no ${tag} marker in ${SOURCE}")
endif()
string(SUBSTRING "${source}" ${first} -1 rest)
string(FIND "${rest}" "\n" line_end)            # the quote starts on the line after the first marker
math(EXPR begin "${line_end} + 1")
string(SUBSTRING "${rest}" ${begin} -1 rest)
string(FIND "${rest}" "${tag}" second)
if(second EQUAL -1)
  message(FATAL_ERROR "only one ${tag} marker in ${SOURCE}")
endif()
string(SUBSTRING "${rest}" 0 ${second} quote)
string(FIND "${quote}" "\n" last_newline REVERSE)  # ... and ends before the second marker's line
math(EXPR length "${last_newline} + 1")
string(SUBSTRING "${quote}" 0 ${length} quote)
string(REGEX REPLACE "(^|\n)  " "\\1" quote "${quote}")

file(READ "${DOC}" doc)
string(FIND "${doc}" "${quote}" position)
if(position EQUAL -1)
  message(FATAL_ERROR "${DOC} does not quote the ${tag} block of ${SOURCE} verbatim; it should contain:\n${quote}")
endif()
message(STATUS "${DOC} quotes the ${tag} block of ${SOURCE}")

# Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
#
# Compile one case of a negative compile test and check the outcome; run by CTest as
#   cmake -DCOMPILER=... -DSOURCE=... -DINCLUDE_DIR=... -DCASE=... -DEXPECT=fail|pass
#         [-DMESSAGE=...] [-DSOLE=ON] [-DFLAGS=...] [-DHOST_COMPILER=...] -DOUTPUT=...
#         -P expect_compile.cmake
# EXPECT=fail: the compiler must fail, its output must contain MESSAGE (the static_assert's
# or #error's text), and every error it reports must be a failed static assertion or an #error
# (no division by zero or other noise after it); with SOLE, MESSAGE's must be the only one.
# EXPECT=pass: it must succeed. FLAGS: more compiler flags (a list).

foreach(var COMPILER SOURCE INCLUDE_DIR CASE EXPECT OUTPUT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "expect_compile.cmake: ${var} is not set")
  endif()
endforeach()

set(command "${COMPILER}" -std=c++17 "-I${INCLUDE_DIR}" "-DMOE_ROUTER_COMPILE_FAIL_CASE=${CASE}" -c "${SOURCE}"
            -o "${OUTPUT}")
if(HOST_COMPILER)
  list(APPEND command -ccbin "${HOST_COMPILER}")
endif()
if(FLAGS)
  list(APPEND command ${FLAGS})
endif()
execute_process(COMMAND ${command} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
file(REMOVE "${OUTPUT}")
set(log "${out}${err}")
list(JOIN command " " command_line)

if(EXPECT STREQUAL "pass")
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "case ${CASE} must compile, but the compiler failed (${result}):\n${command_line}\n${log}")
  endif()
  message(STATUS "case ${CASE} compiles, as it must")
elseif(EXPECT STREQUAL "fail")
  if(result EQUAL 0)
    message(FATAL_ERROR "case ${CASE} must not compile, but it did:\n${command_line}\n${log}")
  endif()
  string(FIND "${log}" "${MESSAGE}" position)
  if(position EQUAL -1)
    message(FATAL_ERROR "case ${CASE} failed to compile, but without the expected message\n  \"${MESSAGE}\"\n"
                        "${command_line}\n${log}")
  endif()
  string(REGEX MATCHALL "error: " errors "${log}")
  string(REGEX MATCHALL "error: (static assertion failed|#error)" assertions "${log}")
  list(LENGTH errors error_count)
  list(LENGTH assertions assertion_count)
  if(NOT error_count EQUAL assertion_count)
    message(FATAL_ERROR "case ${CASE}: ${error_count} errors, of which only ${assertion_count} failed static "
                        "assertions or #errors\n${command_line}\n${log}")
  endif()
  if(SOLE AND NOT assertion_count EQUAL 1)
    message(FATAL_ERROR "case ${CASE}: ${assertion_count} failed static assertions where only \"${MESSAGE}\" "
                        "should fail\n${command_line}\n${log}")
  endif()
  message(STATUS "case ${CASE} fails to compile with \"${MESSAGE}\", as it must")
else()
  message(FATAL_ERROR "expect_compile.cmake: EXPECT must be fail or pass (got ${EXPECT})")
endif()

# Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
#
# cmake -P script behind the test moe_router_consumer (examples/CMakeLists.txt passes every
# variable below). It
#   1. installs the library from the build tree MOE_ROUTER_BUILD_DIR into WORK_DIR/prefix,
#   2. configures, builds and runs examples/consumer against it (find_package),
#   3. does the same with MOE_ROUTER_SOURCE_DIR (add_subdirectory),
#   4. does both with examples/consumer_host, a project without CUDA (the host reference).
# Any failing step fails the test. The consumer itself checks the host reference, and the
# reference kernel against it when a GPU is present.

foreach(var MOE_ROUTER_BUILD_DIR MOE_ROUTER_SOURCE_DIR WORK_DIR GENERATOR CUDA_ARCHITECTURES)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "consumer_test.cmake: ${var} is not set")
  endif()
endforeach()
if(NOT BUILD_TYPE)
  set(BUILD_TYPE Release)
endif()

function(run_step what)
  message(STATUS "consumer: ${what}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "consumer: ${what} failed (${result})")
  endif()
endfunction()

# The architectures go through an initial cache file: a list such as 80;90a in common_args
# would be split into two arguments, and the consumer built for the first alone.
set(prefix ${WORK_DIR}/prefix)
file(REMOVE_RECURSE ${WORK_DIR})
file(WRITE ${WORK_DIR}/initial_cache.cmake
     "set(CMAKE_CUDA_ARCHITECTURES \"${CUDA_ARCHITECTURES}\" CACHE STRING \"\")\n")
set(common_args -G "${GENERATOR}" -DCMAKE_BUILD_TYPE=${BUILD_TYPE} -C ${WORK_DIR}/initial_cache.cmake)
# The library's own tools, where they still exist (a build tree may have been copied to
# another machine to run its tests).
macro(pass_tool cache_var path)
  if(NOT "${path}" STREQUAL "" AND EXISTS "${path}")
    list(APPEND common_args "-D${cache_var}=${path}")
  endif()
endmacro()
pass_tool(CMAKE_MAKE_PROGRAM "${MAKE_PROGRAM}")
pass_tool(CMAKE_CXX_COMPILER "${CXX_COMPILER}")
pass_tool(CMAKE_CUDA_COMPILER "${CUDA_COMPILER}")

run_step("install the library into ${prefix}"
         ${CMAKE_COMMAND} --install ${MOE_ROUTER_BUILD_DIR} --prefix ${prefix} --config ${BUILD_TYPE})

foreach(consumer consumer consumer_host)
  set(consumer_dir ${MOE_ROUTER_SOURCE_DIR}/examples/${consumer})
  foreach(mode find_package add_subdirectory)
    if(mode STREQUAL "find_package")
      set(mode_args -DCMAKE_PREFIX_PATH=${prefix})
    else()
      set(mode_args -DMOE_ROUTER_SOURCE_DIR=${MOE_ROUTER_SOURCE_DIR})
    endif()
    set(build ${WORK_DIR}/${consumer}_${mode})
    run_step("configure ${consumer} (${mode})" ${CMAKE_COMMAND} -S ${consumer_dir} -B ${build} ${common_args} ${mode_args})
    run_step("build ${consumer} (${mode})" ${CMAKE_COMMAND} --build ${build} --config ${BUILD_TYPE})
    find_program(consumer_exe ${consumer} PATHS ${build} ${build}/${BUILD_TYPE} NO_DEFAULT_PATH NO_CACHE REQUIRED)
    run_step("run ${consumer} (${mode})" ${consumer_exe})
    unset(consumer_exe)
  endforeach()
endforeach()

# The part every cross toolchain file shares (included by cmake/<arch>-linux-gnu.cmake,
# which sets CMAKE_SYSTEM_PROCESSOR and WEFT_CROSS_PREFIX first): Debian's
# <prefix>-gcc and binutils, and its sysroot /usr/<prefix> for libraries and headers.
set(CMAKE_SYSTEM_NAME Linux)

set(CMAKE_C_COMPILER ${WEFT_CROSS_PREFIX}-gcc)
set(CMAKE_ASM_COMPILER ${WEFT_CROSS_PREFIX}-gcc)
set(CMAKE_AR ${WEFT_CROSS_PREFIX}-ar CACHE FILEPATH "")
set(CMAKE_RANLIB ${WEFT_CROSS_PREFIX}-ranlib CACHE FILEPATH "")

set(CMAKE_FIND_ROOT_PATH /usr/${WEFT_CROSS_PREFIX})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

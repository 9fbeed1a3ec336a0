# Cross-compile for riscv64 Linux with Debian's gcc-riscv64-linux-gnu, and run the
# resulting programs (ctest) under qemu-user with the cross sysroot.
#   cmake -S . -B build-riscv64 -DCMAKE_TOOLCHAIN_FILE=cmake/riscv64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR riscv64)

set(WEFT_CROSS_PREFIX riscv64-linux-gnu)
set(CMAKE_C_COMPILER ${WEFT_CROSS_PREFIX}-gcc)
set(CMAKE_ASM_COMPILER ${WEFT_CROSS_PREFIX}-gcc)
set(CMAKE_AR ${WEFT_CROSS_PREFIX}-ar CACHE FILEPATH "")
set(CMAKE_RANLIB ${WEFT_CROSS_PREFIX}-ranlib CACHE FILEPATH "")

set(CMAKE_FIND_ROOT_PATH /usr/${WEFT_CROSS_PREFIX})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(CMAKE_CROSSCOMPILING_EMULATOR "qemu-riscv64;-L;/usr/${WEFT_CROSS_PREFIX}")

# Cross-compile for aarch64 Linux with Debian's gcc-aarch64-linux-gnu, and run the
# resulting programs (ctest) under qemu-user with the cross sysroot.
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(WEFT_CROSS_PREFIX aarch64-linux-gnu)
include(${CMAKE_CURRENT_LIST_DIR}/cross-linux-gnu.cmake)

set(CMAKE_CROSSCOMPILING_EMULATOR "qemu-aarch64;-L;/usr/${WEFT_CROSS_PREFIX}")

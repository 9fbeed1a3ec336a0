# Cross-compile for riscv64 Linux with Debian's gcc-riscv64-linux-gnu, and run the
# resulting programs (ctest) under qemu-user with the cross sysroot.
#   cmake -S . -B build-riscv64 -DCMAKE_TOOLCHAIN_FILE=cmake/riscv64-linux-gnu.cmake
set(CMAKE_SYSTEM_PROCESSOR riscv64)
set(WEFT_CROSS_PREFIX riscv64-linux-gnu)
include(${CMAKE_CURRENT_LIST_DIR}/cross-linux-gnu.cmake)

set(CMAKE_CROSSCOMPILING_EMULATOR "qemu-riscv64;-L;/usr/${WEFT_CROSS_PREFIX}")

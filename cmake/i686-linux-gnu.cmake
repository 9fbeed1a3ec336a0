# Build for 32-bit x86 (i386/i686) Linux with Debian's gcc-i686-linux-gnu; the programs
# run natively on an x86_64 kernel (the loader /lib/ld-linux.so.2 comes from libc6-i386).
#   cmake -S . -B build-i386 -DCMAKE_TOOLCHAIN_FILE=cmake/i686-linux-gnu.cmake
set(CMAKE_SYSTEM_PROCESSOR i686)
set(WEFT_CROSS_PREFIX i686-linux-gnu)
include(${CMAKE_CURRENT_LIST_DIR}/cross-linux-gnu.cmake)

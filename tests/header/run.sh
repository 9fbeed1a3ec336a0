#!/bin/sh
# run.sh <compiler> <c|c++> <std> <source> <libweft.a> <include dir> <work dir>
# Compiles <source> as the given language and standard with warnings as errors, links it
# against libweft.a, runs it. Used by header_tests.cmake.
set -eu
comp=$1 lang=$2 std=$3 src=$4 lib=$5 inc=$6 dir=$7
mkdir -p "$dir"
out="$dir/use_header_$(echo "$comp-$std" | tr '+' 'x')"
"$comp" -x "$lang" -std="$std" -Wall -Wextra -pedantic -Werror -I"$inc" -c "$src" -o "$out.o"
"$comp" "$out.o" "$lib" -lpthread -ldl -o "$out"
"$out"

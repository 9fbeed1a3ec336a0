# Included from the top-level CMakeLists.txt (tests enabled): weft.h and weft_hook.h build in
# every supported language standard. tests/header/use_header.c is compiled as C11, C17 and
# C23 and as C++11, C++14, C++17 and C++20 by gcc/g++ and clang/clang++ (where installed), with
# -Wall -Wextra -pedantic -Werror, linked against libweft.a and run: one ctest test each,
# named header.<compiler>_<standard> (label header).
if(NOT CMAKE_CROSSCOMPILING)
  set(_hsrc ${PROJECT_SOURCE_DIR}/tests/header/use_header.c)
  set(_hcompilers "")
  foreach(cc gcc clang)
    find_program(WEFT_HDR_${cc} ${cc})
    if(WEFT_HDR_${cc})
      list(APPEND _hcompilers ${cc})
    endif()
  endforeach()
  foreach(cxx g++ clang++)
    string(REPLACE "+" "x" _v ${cxx})
    find_program(WEFT_HDR_${_v} ${cxx})
    if(WEFT_HDR_${_v})
      list(APPEND _hcompilers ${cxx})
    endif()
  endforeach()
  foreach(comp ${_hcompilers})
    if(comp MATCHES "\\+\\+$")
      set(_stds c++11 c++14 c++17 c++20)
      set(_lang c++)
    else()
      set(_stds c11 c17 c2x)
      set(_lang c)
    endif()
    string(REPLACE "+" "x" _cname ${comp})
    foreach(std ${_stds})
      string(REPLACE "+" "x" _sname ${std})
      add_test(NAME header.${_cname}_${_sname}
               COMMAND sh ${PROJECT_SOURCE_DIR}/tests/header/run.sh ${comp} ${_lang} ${std}
                       ${_hsrc} $<TARGET_FILE:weft_static> ${PROJECT_SOURCE_DIR}/include
                       ${PROJECT_BINARY_DIR}/tests/header)
      set_tests_properties(header.${_cname}_${_sname} PROPERTIES TIMEOUT 120 LABELS header)
    endforeach()
  endforeach()
endif()

#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "src/util/shared_library.h"

using stalecheck::SharedLibrary;

TEST_CASE("a library opened late binds its functions, which are the library's own") {
  SharedLibrary lib("libc.so.6", "the test needs");
  size_t (*length)(const char*) = nullptr;
  REQUIRE(lib.Bind("strlen", length));
  CHECK(lib.error().empty());
  CHECK(length("seven c") == 7);
}

TEST_CASE("a library that cannot be opened is named with what needs it, and binds nothing") {
  SharedLibrary lib("libstalecheck-absent.so.0", "the engine client needs");
  const std::string error = lib.error();
  CHECK(error.rfind("cannot load libstalecheck-absent.so.0, which the engine client needs: ", 0) ==
        0);
  int (*fn)() = reinterpret_cast<int (*)()>(1);
  CHECK_FALSE(lib.Bind("anything", fn));
  CHECK(static_cast<bool>(fn == nullptr));
  CHECK(lib.error() == error);  // the first failure is the one kept
}

TEST_CASE("the first function a library lacks is the one named; later binds do not bind") {
  SharedLibrary lib("libc.so.6", "the test needs");
  void (*missing)() = nullptr;
  size_t (*length)(const char*) = nullptr;
  CHECK_FALSE(lib.Bind("stalecheck_no_such_function", missing));
  CHECK_FALSE(lib.Bind("strlen", length));
  CHECK(static_cast<bool>(length == nullptr));
  CHECK(lib.error() == "libc.so.6 has no stalecheck_no_such_function");
  lib.Fail("a later failure");
  CHECK(lib.error() == "libc.so.6 has no stalecheck_no_such_function");
}

#include "src/util/shared_library.h"

#include <dlfcn.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace stalecheck {

SharedLibrary::SharedLibrary(const char* soname, const char* needed_for) : soname_(soname) {
  handle_ = ::dlopen(soname, RTLD_NOW | RTLD_LOCAL);  // never closed: the functions stay bound
  if (handle_ == nullptr) {
    const char* why = ::dlerror();
    error_ = absl::StrCat("cannot load ", soname, ", which ", needed_for, ": ",
                          why != nullptr ? why : "unknown error");
  }
}

void* SharedLibrary::Symbol(const char* name) {
  if (!error_.empty()) return nullptr;
  void* sym = ::dlsym(handle_, name);
  if (sym == nullptr) error_ = absl::StrCat(soname_, " has no ", name);
  return sym;
}

void SharedLibrary::Fail(std::string error) {
  if (error_.empty()) error_ = std::move(error);
}

}  // namespace stalecheck

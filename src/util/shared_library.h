// A shared library opened on demand with dlopen and kept for the process's life: the one way
// the modules that load a library late (libcurl, libgit2) open it, bind its functions, and say
// what failed.
#pragma once

#include <string>

namespace stalecheck {

class SharedLibrary {
 public:
  /// Opens `soname`; `needed_for` completes "cannot load SONAME, which ..." when that fails.
  SharedLibrary(const char* soname, const char* needed_for);

  /// Binds `name` into `fn` (a function pointer). False, with error() naming the missing
  /// function, when the library is not open or lacks it; a failure is kept, so a run of
  /// binds can be checked once at its end.
  template <typename F>
  bool Bind(const char* name, F& fn) {
    void* sym = Symbol(name);
    fn = reinterpret_cast<F>(sym);
    return sym != nullptr;
  }

  /// Sets the error (for a failure after the binds, such as the library's own start-up).
  void Fail(std::string error);

  /// Empty while the library is open and every bind has succeeded.
  const std::string& error() const { return error_; }
  const char* soname() const { return soname_; }

 private:
  void* Symbol(const char* name);

  const char* soname_;
  void* handle_ = nullptr;
  std::string error_;
};

}  // namespace stalecheck

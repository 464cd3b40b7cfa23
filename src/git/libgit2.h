// libgit2, opened when a repository is first read instead of at start-up.
//
// Most runs never open a repository through libgit2 (a worktree context's HEAD is read from
// its files, see head.h), and linking it made every one of them load and relocate it and its
// dozen dependencies (mbed TLS, libssh2, Kerberos, PCRE2, http-parser): 7 ms of a start-up
// here. The git module calls it through the table below; git2.h still gives the types.
#pragma once

#include <git2.h>
#include <git2/sys/repository.h>

#include "absl/status/status.h"

namespace stalecheck::git::libgit2 {

// Every libgit2 function the git module calls.
#define STALECHECK_LIBGIT2_FUNCTIONS(X) \
  X(git_attr_get_many_ext) \
  X(git_attr_value) \
  X(git_blob_free) \
  X(git_blob_lookup) \
  X(git_blob_rawcontent) \
  X(git_blob_rawsize) \
  X(git_buf_dispose) \
  X(git_commit_free) \
  X(git_commit_lookup) \
  X(git_commit_tree_id) \
  X(git_config_free) \
  X(git_config_get_bool) \
  X(git_config_get_string_buf) \
  X(git_error_last) \
  X(git_filter_list_apply_to_blob) \
  X(git_filter_list_apply_to_buffer) \
  X(git_filter_list_contains) \
  X(git_filter_list_free) \
  X(git_filter_list_load_ext) \
  X(git_graph_ahead_behind) \
  X(git_index_free) \
  X(git_index_new) \
  X(git_index_read_tree) \
  X(git_libgit2_init) \
  X(git_libgit2_opts) \
  X(git_object_free) \
  X(git_object_id) \
  X(git_object_peel) \
  X(git_odb_free) \
  X(git_odb_read_header) \
  X(git_oid_fromstr) \
  X(git_oid_tostr) \
  X(git_reference_name_to_id) \
  X(git_repository_commondir) \
  X(git_repository_config_snapshot) \
  X(git_repository_free) \
  X(git_repository_odb) \
  X(git_repository_open) \
  X(git_repository_open_bare) \
  X(git_repository_open_ext) \
  X(git_repository_path) \
  X(git_repository_set_index) \
  X(git_repository_workdir) \
  X(git_revparse_single) \
  X(git_submodule_free) \
  X(git_submodule_lookup) \
  X(git_submodule_open) \
  X(git_tree_entry_byindex) \
  X(git_tree_entry_bypath) \
  X(git_tree_entry_filemode) \
  X(git_tree_entry_free) \
  X(git_tree_entry_id) \
  X(git_tree_entry_name) \
  X(git_tree_entry_type) \
  X(git_tree_entrycount) \
  X(git_tree_free) \
  X(git_tree_lookup)

struct Api {
#define STALECHECK_LIBGIT2_POINTER(name) decltype(&::name) name = nullptr;
  STALECHECK_LIBGIT2_FUNCTIONS(STALECHECK_LIBGIT2_POINTER)
#undef STALECHECK_LIBGIT2_POINTER
};

/// Opens the library once per process (thread-safe), binds every function, and runs
/// git_libgit2_init with the options the git module reads with. Fails, every time, naming the
/// library and why, when it cannot be opened.
absl::Status Load();

/// The functions; only after Load() has succeeded.
const Api& Fns();

}  // namespace stalecheck::git::libgit2

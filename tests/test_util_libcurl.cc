#include <doctest/doctest.h>

#include <functional>
#include <string>

#include "src/util/libcurl.h"

using stalecheck::libcurl::ReceiveBody;
using stalecheck::libcurl::Receiver;

namespace {

// Hands `text` to the write callback as libcurl does: a count of one-byte items.
size_t Deliver(Receiver& r, std::string text) {
  return ReceiveBody(text.data(), 1, text.size(), &r);
}

}  // namespace

TEST_CASE("a 200's body goes to the sink, and a sink that has enough stops the transfer") {
  std::string got;
  int calls = 0;
  const std::function<bool(const char*, size_t)> sink = [&](const char* data, size_t len) {
    got.append(data, len);
    return ++calls < 2;
  };
  Receiver r;
  r.status = 200;
  r.sink = &sink;
  r.limit = 1;  // the sink's bytes are not held, so the limit on kept bodies does not apply
  CHECK(Deliver(r, "layer ") == 6);
  CHECK_FALSE(r.stopped);
  CHECK(Deliver(r, "bytes") == 0);  // a short count: libcurl ends the transfer
  CHECK(r.stopped);
  CHECK(got == "layer bytes");
  CHECK(r.body.empty());
}

TEST_CASE("an error answer to a stream is kept as the body, not given to the sink") {
  bool called = false;
  const std::function<bool(const char*, size_t)> sink = [&](const char*, size_t) {
    called = true;
    return true;
  };
  Receiver r;
  r.status = 404;
  r.sink = &sink;
  r.limit = 64;
  CHECK(Deliver(r, "{\"message\":\"no such image\"}") == 27);
  CHECK_FALSE(called);
  CHECK(r.body == "{\"message\":\"no such image\"}");
}

TEST_CASE("a kept body longer than the limit stops the transfer as too big") {
  Receiver r;
  r.status = 200;
  r.limit = 8;
  CHECK(Deliver(r, "12345") == 5);
  CHECK(Deliver(r, "6789") == 0);
  CHECK(r.too_big);
  CHECK(r.body == "12345");
  Receiver e;  // without error_keep an error body is held to the same limit
  e.status = 500;
  e.limit = 4;
  CHECK(Deliver(e, "12345") == 0);
  CHECK(e.too_big);
}

TEST_CASE("with error_keep, an error body keeps its start and the rest is read and dropped") {
  Receiver r;
  r.status = 500;
  r.limit = 2;  // for 200s only, here
  r.error_keep = 6;
  CHECK(Deliver(r, "boom: ") == 6);
  CHECK(Deliver(r, "and much more") == 13);
  CHECK_FALSE(r.too_big);
  CHECK_FALSE(r.stopped);
  CHECK(r.body == "boom: ");
}

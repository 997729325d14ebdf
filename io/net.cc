#include "io/net.h"

#include <fmt/format.h>

#include <charconv>

namespace runnel {

Result<Address> Address::Parse(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return Status::InvalidArgument(fmt::format("address '{}' is not host:port", text));
  }
  std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || ptr != port_text.data() + port_text.size() || port > 65535) {
    return Status::InvalidArgument(fmt::format("address '{}' has a bad port", text));
  }
  return Address{std::string(text.substr(0, colon)), static_cast<uint16_t>(port)};
}

std::string Address::ToString() const { return fmt::format("{}:{}", host, port); }

Task<Status> RecvExactly(Socket& socket, std::span<std::byte> buf) {
  size_t done = 0;
  while (done < buf.size()) {
    Result<size_t> n = co_await socket.Recv(buf.subspan(done));
    if (!n.ok()) co_return std::move(n).status();
    if (*n == 0) {
      co_return Status::Closed(fmt::format("stream from {} ended after {} of {} bytes",
                                           socket.peer().ToString(), done, buf.size()));
    }
    done += *n;
  }
  co_return Status::Ok();
}

}  // namespace runnel

// Finding a container's init-d socket in the depot: by handle, or from the
// directory you stand in (src/cli/depot.ts, path for path).
#pragma once

#include <string>
#include <string_view>

namespace dosh {

constexpr const char* kDefaultDepot = "/var/lib/node-garden";

// node:path's posix join and normalize, so paths (and the messages that show
// them) come out exactly as the Node CLI prints them.
std::string path_normalize(std::string_view p);
std::string path_join(std::initializer_list<std::string_view> parts);

enum class Found { kYes, kNo, kAskNode };

// The socket of the container with this handle: its dir is named by the
// handle or its state.json records it. kAskNode when only the Node CLI can
// tell for sure (a state file whose handle is not valid UTF-8).
Found socket_for_handle(const std::string& depot, const std::string& handle, std::string& socket);

// The socket of the container whose depot dir contains `cwd` (absolute).
bool socket_from_cwd(const std::string& cwd, std::string& socket);

// What JSON.parse(text)?.handle === handle says. kAskNode as above.
Found state_handle_is(std::string_view text, std::string_view handle);

}  // namespace dosh

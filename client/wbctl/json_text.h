// JSON output for --json: indented, and never throwing on text that is not
// valid UTF-8 (an origin identity read from a corrupt cache, say): such bytes
// come out as U+FFFD rather than aborting wbctl.
#ifndef WRITEBOOST_CLIENT_WBCTL_JSON_TEXT_H_
#define WRITEBOOST_CLIENT_WBCTL_JSON_TEXT_H_

#include <string>

#include <nlohmann/json.hpp>

namespace wbctl {

// For nlohmann::json and ordered_json alike (key order is kept).
template <typename Json>
std::string JsonText(const Json& j) {
  return j.dump(2, ' ', false, Json::error_handler_t::replace);
}

}  // namespace wbctl

#endif  // WRITEBOOST_CLIENT_WBCTL_JSON_TEXT_H_

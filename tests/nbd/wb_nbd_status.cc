// Test helper of the NBD bridge tests: prints a volume's AdminService
// status as one line of JSON (proto field names, zeros included), waiting up
// to --wait seconds for the node to answer and the volume to serve.
//
//   wb_nbd_status ENDPOINT VOLUME [WAIT_SECONDS]
//
// Exit 0 with the JSON on stdout; 1 with the error on stderr. (wbctl status
// --json does the same once wbctl has its online commands; the tests use
// this helper so that they depend on the admin API only.)
#include <cstdlib>
#include <iostream>
#include <string>

#include <google/protobuf/util/json_util.h>

#include "absl/time/clock.h"
#include "client/lib/admin.h"

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::cerr << "usage: wb_nbd_status ENDPOINT VOLUME [WAIT_SECONDS]\n";
    return 2;
  }
  const std::string endpoint = argv[1], volume = argv[2];
  const absl::Time give_up = absl::Now() + absl::Seconds(argc == 4 ? std::atoi(argv[3]) : 0);
  wbclient::Options options;
  options.retries = 0;
  options.timeout = absl::Seconds(10);
  auto admin = wbclient::Admin::Connect(endpoint, options);
  if (!admin.ok()) {
    std::cerr << admin.status() << "\n";
    return 1;
  }
  while (true) {
    absl::StatusOr<writeboost::v1::VolumeStatus> st = (*admin)->GetStatus(volume);
    if (st.ok() && st->state() == writeboost::v1::VOLUME_STATE_SERVING) {
      std::string json;
      google::protobuf::util::JsonPrintOptions o;
      o.preserve_proto_field_names = true;
      o.always_print_primitive_fields = true;
      if (!google::protobuf::util::MessageToJsonString(*st, &json, o).ok()) return 1;
      std::cout << json << "\n";
      return 0;
    }
    if (absl::Now() >= give_up) {
      std::cerr << (st.ok() ? "volume is not serving: state " +
                                  writeboost::v1::VolumeState_Name(st->state())
                            : st.status().ToString())
                << "\n";
      return 1;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

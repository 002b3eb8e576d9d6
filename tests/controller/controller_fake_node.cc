// A stand-in for writeboostd's pacing client, for the shell tests: opens a
// Session with a writeboost-controller, registers, and reports the given
// volumes every interval for a while, printing the grants of each reply
// that changed them. Exit 0 when the session ended cleanly.
//
//   controller_fake_node ADDRESS NODE_ID SECONDS VOLUME...
//
// VOLUME is name=N[,group=G][,dirty=B][,capacity=B][,to_stall=B]
// [,waiting=N][,p99_ms=X][,ios=N][,writeback=B/s][,foreground=B/s].
#include <cstdio>
#include <iostream>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "writeboost/v1/controller.grpc.pb.h"

namespace v1 = writeboost::v1;

namespace {

bool ParseVolume(const std::string& spec, v1::VolumeReport* r) {
  for (absl::string_view part : absl::StrSplit(spec, ',', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(part, absl::MaxSplits('=', 1));
    const std::string& k = kv.first;
    const std::string& v = kv.second;
    uint64_t n = 0;
    double d = 0;
    bool num = absl::SimpleAtoi(v, &n), real = absl::SimpleAtod(v, &d);
    if (k == "name") r->set_volume(v);
    else if (k == "group") r->set_origin_group(v);
    else if (k == "dirty" && num) r->set_dirty_bytes(n);
    else if (k == "capacity" && num) r->set_capacity_bytes(n);
    else if (k == "to_stall" && num) r->set_bytes_to_stall(n);
    else if (k == "waiting" && num) r->set_writers_waiting(n);
    else if (k == "ios" && num) r->set_origin_ios(n);
    else if (k == "p99_ms" && real) r->set_origin_p99_ms(d);
    else if (k == "writeback" && real) r->set_writeback_bytes_per_second(d);
    else if (k == "foreground" && real) r->set_foreground_write_bytes_per_second(d);
    else return false;
  }
  return !r->volume().empty();
}

}  // namespace

int main(int argc, char** argv) {
  int seconds = 0;
  if (argc < 4 || !absl::SimpleAtoi(argv[3], &seconds)) {
    std::cerr << "usage: controller_fake_node ADDRESS NODE_ID SECONDS VOLUME...\n";
    return 2;
  }
  v1::NodeMessage report;
  for (int i = 4; i < argc; i++) {
    if (!ParseVolume(argv[i], report.mutable_report()->add_volumes())) {
      std::cerr << "controller_fake_node: bad volume spec " << argv[i] << "\n";
      return 2;
    }
  }
  if (report.report().volumes_size() == 0) report.mutable_report();
  auto stub = v1::ControllerService::NewStub(
      grpc::CreateChannel(argv[1], grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  auto stream = stub->Session(&ctx);
  v1::NodeMessage reg;
  reg.mutable_register_()->set_node_id(argv[2]);
  reg.mutable_register_()->set_address(std::string(argv[2]) + ":7200");
  stream->Write(reg);
  const absl::Time end = absl::Now() + absl::Seconds(seconds);
  absl::Duration interval = absl::Milliseconds(500);
  std::string last;
  while (absl::Now() < end) {
    if (!stream->Write(report)) break;
    v1::ControllerMessage reply;
    if (!stream->Read(&reply)) break;
    std::string text;
    for (const v1::Grant& g : reply.grants()) {
      text += g.unlimited() ? absl::StrFormat("%s unlimited\n", g.volume())
                            : absl::StrFormat("%s %.0f %.0f\n", g.volume(), g.bytes_per_second(),
                                              g.iops());
    }
    if (text != last) {
      std::cout << text << "--" << std::endl;
      last = text;
    }
    interval = absl::Milliseconds(reply.report_interval_ms());
    absl::SleepFor(interval);
  }
  stream->WritesDone();
  grpc::Status s = stream->Finish();
  if (!s.ok()) {
    std::cerr << "controller_fake_node: session ended: " << s.error_code() << ": "
              << s.error_message() << "\n";
    return 1;
  }
  return 0;
}

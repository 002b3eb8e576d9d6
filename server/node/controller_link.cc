#include "server/node/controller_link.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "server/core/format/layout.h"
#include "server/node/log.h"

namespace wb::node {

namespace v1 = writeboost::v1;

namespace {

constexpr absl::Duration kMaxBackoff = absl::Seconds(5);

}  // namespace

ControllerLink::ControllerLink(ControllerLinkOptions options, VolumeRegistry* registry)
    : options_(std::move(options)), registry_(registry) {}

ControllerLink::~ControllerLink() { Stop(); }

absl::Status ControllerLink::Start() {
  if (options_.tls_ca.empty()) {
    creds_ = grpc::InsecureChannelCredentials();
  } else {
    std::ifstream in(options_.tls_ca);
    if (!in) {
      return absl::NotFoundError(
          absl::StrCat("--controller-tls-ca ", options_.tls_ca, ": cannot read it"));
    }
    std::stringstream pem;
    pem << in.rdbuf();
    if (pem.str().find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--controller-tls-ca ", options_.tls_ca, ": no PEM certificate in it"));
    }
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = pem.str();
    creds_ = grpc::SslCredentials(o);
  }
  Log("controller %s: registering as node %s", options_.target, options_.node_id);
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void ControllerLink::Stop() {
  {
    absl::MutexLock l(&mu_);
    if (stop_) return;
    stop_ = true;
    if (session_ != nullptr) session_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
  DropGrants();
}

void ControllerLink::DropGrants() {
  lease_active_ = false;
  for (const auto& e : registry_->List()) {
    e->pacer().SetUnlimited();
    e->pacer().SetLeaseHeld(false);
  }
}

bool ControllerLink::Sleep(absl::Duration d) {
  absl::MutexLock l(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stop_), d);
  return !stop_;
}

void ControllerLink::Run() {
  absl::Duration backoff = absl::Milliseconds(250);
  bool was_connected = true;  // log the first failure
  while (true) {
    {
      absl::MutexLock l(&mu_);
      if (stop_) return;
    }
    absl::Status s = RunSession();
    bool had_session = connected_.exchange(false);
    if (had_session) {
      Log("controller %s: session ended (%s); reconnecting", options_.target,
          s.ToString());
      backoff = absl::Milliseconds(250);
    } else if (was_connected) {
      Log("controller %s: cannot reach it (%s); retrying, writeback paced "
          "locally meanwhile",
          options_.target, s.ToString());
    }
    was_connected = had_session;
    // Keep the lease running out while disconnected.
    for (absl::Time until = absl::Now() + backoff; absl::Now() < until;) {
      ExpireLease();
      if (!Sleep(std::min(absl::Milliseconds(100), until - absl::Now()))) return;
    }
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

absl::Status ControllerLink::RunSession() {
  auto channel = grpc::CreateChannel(options_.target, creds_);
  auto stub = v1::ControllerService::NewStub(channel);
  grpc::ClientContext ctx;
  {
    absl::MutexLock l(&mu_);
    if (stop_) return absl::CancelledError("stopping");
    session_ = &ctx;
  }
  auto stream = stub->Session(&ctx);
  std::atomic<bool> reader_done{false};
  std::thread reader([&] {
    v1::ControllerMessage msg;
    while (stream->Read(&msg)) {
      if (!connected_.exchange(true)) {
        Log("controller %s: connected; writeback paced by its grants", options_.target);
      }
      ApplyGrants(msg);
    }
    reader_done = true;
  });
  v1::NodeMessage reg;
  reg.mutable_register_()->set_node_id(options_.node_id);
  reg.mutable_register_()->set_address(options_.address);
  bool ok = stream->Write(reg);
  while (ok && !reader_done) {
    v1::NodeMessage report;
    *report.mutable_report() = BuildReport();
    ok = stream->Write(report);
    absl::Duration interval;
    {
      absl::MutexLock l(&mu_);
      interval = report_interval_;
    }
    for (absl::Time until = absl::Now() + interval; ok && absl::Now() < until;) {
      ExpireLease();
      if (reader_done || !Sleep(std::min(absl::Milliseconds(50), until - absl::Now()))) {
        ok = false;
      }
    }
  }
  ctx.TryCancel();
  reader.join();
  grpc::Status st = stream->Finish();
  {
    absl::MutexLock l(&mu_);
    session_ = nullptr;
  }
  if (st.ok()) return absl::UnavailableError("the controller closed the session");
  return absl::Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
}

v1::Report ControllerLink::BuildReport() {
  v1::Report report;
  absl::Time now = absl::Now();
  absl::MutexLock l(&mu_);
  double dt = std::max(1e-3, absl::ToDoubleSeconds(now - last_report_));
  for (const std::shared_ptr<VolumeEntry>& e : registry_->List()) {
    absl::StatusOr<IoRef> ref = e->BeginIo();
    if (!ref.ok()) continue;
    VolumeStatus st = (*ref)->GetStatus();
    OriginPacer::Window w = e->pacer().TakeWindow();
    v1::VolumeReport* r = report.add_volumes();
    r->set_volume(e->name());
    r->set_origin_group(e->config().origin_group.empty() ? options_.default_group
                                                         : e->config().origin_group);
    r->set_dirty_bytes(st.nr_dirty_cache_blocks * kBlockSize);
    r->set_capacity_bytes(st.nr_cache_blocks * kBlockSize);
    // Writeback turns urgent (full speed, whatever the grant says is moot
    // then: writers are about to wait) at 3/4 of the ring in use.
    uint64_t used = st.ring_blocks - std::min(st.ring_blocks, st.free_blocks);
    uint64_t watermark = st.ring_blocks / 4 * 3;
    r->set_bytes_to_stall(used >= watermark ? 0 : (watermark - used) * kBlockSize);
    if (w.seconds > 0) {
      r->set_writeback_bytes_per_second(static_cast<double>(w.write_bytes) / w.seconds);
      r->set_writeback_iops(static_cast<double>(w.write_ios) / w.seconds);
    }
    r->set_origin_p50_ms(w.p50_ms);
    r->set_origin_p99_ms(w.p99_ms);
    r->set_origin_ios(w.ios);
    uint64_t fg_w = e->foreground_bytes(true), fg_r = e->foreground_bytes(false);
    auto [it, fresh] = last_fg_.try_emplace(e->name(), fg_w, fg_r);
    if (!fresh) {
      r->set_foreground_write_bytes_per_second(static_cast<double>(fg_w - it->second.first) / dt);
      r->set_foreground_read_bytes_per_second(static_cast<double>(fg_r - it->second.second) / dt);
      it->second = {fg_w, fg_r};
    }
    r->set_writers_waiting(st.writers_waiting);
  }
  last_report_ = now;
  return report;
}

void ControllerLink::ApplyGrants(const v1::ControllerMessage& msg) {
  absl::Duration lease = absl::Milliseconds(msg.lease_ms());
  {
    absl::MutexLock l(&mu_);
    lease_until_ = absl::Now() + lease;
    if (msg.report_interval_ms() > 0) {
      report_interval_ = std::clamp(absl::Milliseconds(msg.report_interval_ms()),
                                    absl::Milliseconds(50), absl::Seconds(10));
    }
  }
  for (const v1::Grant& g : msg.grants()) {
    absl::StatusOr<std::shared_ptr<VolumeEntry>> e = registry_->Find(g.volume());
    if (!e.ok()) continue;  // detached since the report
    (*e)->pacer().SetLeaseHeld(msg.lease_ms() > 0);
    if (g.unlimited() || g.bytes_per_second() <= 0) {
      (*e)->pacer().SetUnlimited();
    } else {
      (*e)->pacer().SetGrant(g.bytes_per_second(), g.iops());
    }
  }
  if (msg.lease_ms() > 0 && !lease_active_.exchange(true)) {
    Log("controller %s: grants in force (lease %d ms)", options_.target, msg.lease_ms());
  }
}

void ControllerLink::ExpireLease() {
  {
    absl::MutexLock l(&mu_);
    if (!lease_active_ || absl::Now() < lease_until_) return;
  }
  DropGrants();
  Log("controller %s: lease lapsed without a renewal; writeback paced locally "
      "until the controller answers again",
      options_.target);
}

}  // namespace wb::node

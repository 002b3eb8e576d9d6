#include "server/node/metrics_server.h"

#include <memory>
#include <vector>

#ifndef WB_VERSION
#define WB_VERSION "unknown"
#endif

namespace wb::node {

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& listen, const VolumeRegistry* registry) {
  std::unique_ptr<MetricsServer> m(new MetricsServer());
  m->volumes_ = std::make_shared<VolumeMetrics>(registry);
  m->io_ = std::make_shared<IoMetrics>([registry] {
    std::vector<std::string> names;
    for (const std::shared_ptr<VolumeEntry>& e : registry->List()) names.push_back(e->name());
    return names;
  });
  m->process_ = std::make_shared<ProcessMetrics>(WB_VERSION);
  absl::StatusOr<std::unique_ptr<common::MetricsEndpoint>> e =
      common::MetricsEndpoint::Start(listen, {m->process_, m->volumes_, m->io_});
  if (!e.ok()) return e.status();
  m->endpoint_ = *std::move(e);
  return m;
}

MetricsServer::~MetricsServer() { StopServing(); }

void MetricsServer::StopServing() {
  if (endpoint_ != nullptr) endpoint_->Stop();
}

}  // namespace wb::node

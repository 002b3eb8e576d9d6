#include "server/node/paced_device.h"

#include <utility>

namespace wb::node {

void PacedDevice::Submit(const IoRequest& req, IoCallback done) {
  if (req.op != IoOp::kRead && req.op != IoOp::kWrite) {
    inner_->Submit(req, std::move(done));
    return;
  }
  bool write = req.op == IoOp::kWrite;
  if (write) pacer_->AcquireWrite(req.length);
  absl::Time start = absl::Now();
  inner_->Submit(req, [pacer = pacer_, write, length = req.length, start,
                       done = std::move(done)](absl::Status st) mutable {
    if (st.ok()) pacer->RecordIo(write, length, absl::Now() - start);
    std::move(done)(std::move(st));
  });
}

}  // namespace wb::node

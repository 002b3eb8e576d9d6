// PacedDevice: the origin as the core sees it on a node. Every write waits
// for its turn under the volume's OriginPacer before it is submitted, and
// every read and write is timed into it. The wait happens in Submit(), on
// the caller's thread: origin writes come only from the core's writeback
// thread, which holds no lock while it submits (server/core/writeback.cc).
#ifndef WRITEBOOST_NODE_PACED_DEVICE_H_
#define WRITEBOOST_NODE_PACED_DEVICE_H_

#include <memory>
#include <string>

#include "server/core/device/device.h"
#include "server/node/origin_pacer.h"

namespace wb::node {

class PacedDevice : public Device {
 public:
  // REQUIRES: pacer outlives this device.
  PacedDevice(std::unique_ptr<Device> inner, OriginPacer* pacer)
      : inner_(std::move(inner)), pacer_(pacer) {}

  uint64_t size() const override { return inner_->size(); }
  uint32_t logical_block_size() const override { return inner_->logical_block_size(); }
  std::string name() const override { return inner_->name(); }
  bool supports_discard() const override { return inner_->supports_discard(); }
  bool discard_zeroes() const override { return inner_->discard_zeroes(); }
  void Submit(const IoRequest& req, IoCallback done) override;

 private:
  const std::unique_ptr<Device> inner_;
  OriginPacer* const pacer_;
};

}  // namespace wb::node

#endif  // WRITEBOOST_NODE_PACED_DEVICE_H_

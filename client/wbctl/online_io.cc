// wbctl read, write and flush: block I/O on a volume through a node, for
// people and scripts. Ranges larger than the node's payload limit are split
// into several requests.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/lib/volume.h"
#include "client/wbctl/json_text.h"
#include "client/wbctl/commands.h"
#include "client/wbctl/online.h"
#include "client/wbctl/output.h"

namespace wbctl {
namespace {

struct IoArgs {
  std::string volume;
  std::string offset = "0";
  std::string length;
  std::string file;
  std::string fill;
  bool fua = false;
  bool json = false;
};

std::string Base64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += k[(v >> s) & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += i + 1 < in.size() ? k[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// xxd-like lines; runs of identical lines collapse to "*" as in od.
void HexDump(uint64_t base, const std::string& data) {
  std::string prev;
  bool starred = false;
  for (size_t off = 0; off < data.size(); off += 16) {
    std::string line = data.substr(off, 16);
    if (line == prev && off + 16 < data.size()) {
      if (!starred) std::cout << "*\n";
      starred = true;
      continue;
    }
    starred = false;
    prev = line;
    std::string hex, text;
    for (size_t i = 0; i < line.size(); i++) {
      hex += absl::StrFormat("%02x%s", uint8_t(line[i]), i % 2 ? " " : "");
      text += (line[i] >= 32 && line[i] < 127) ? line[i] : '.';
    }
    std::cout << absl::StrFormat("%010x: %-40s %s\n", base + off, hex, text);
  }
}

absl::StatusOr<std::unique_ptr<wbclient::Volume>> OpenVolume(const std::string& name) {
  absl::StatusOr<wbclient::Options> o = GlobalConnection().ClientOptions();
  if (!o.ok()) return o.status();
  return wbclient::Volume::Open(GlobalConnection().server, name, *o);
}

int RunRead(const IoArgs& a) {
  absl::StatusOr<uint64_t> offset = ParseSize(a.offset);
  absl::StatusOr<uint64_t> length = ParseSize(a.length);
  if (!offset.ok()) return Fail(offset.status(), kExitUsage);
  if (!length.ok()) return Fail(length.status(), kExitUsage);
  auto vol = OpenVolume(a.volume);
  if (!vol.ok()) return FailRpc(vol.status());
  std::string data(*length, '\0');
  uint64_t chunk = std::max<uint64_t>((*vol)->max_payload(), 512);
  uint64_t done = 0;
  do {
    uint64_t n = std::min(chunk, *length - done);
    absl::Status s = (*vol)->Read(*offset + done, absl::MakeSpan(data).subspan(done, n));
    if (!s.ok()) return FailRpc(s);
    done += n;
  } while (done < *length);
  if (!a.file.empty()) {
    std::ofstream out(a.file, std::ios::binary | std::ios::trunc);
    if (!out.write(data.data(), data.size())) return Fail("cannot write " + a.file);
  }
  if (a.json) {
    nlohmann::json j;
    j["volume"] = a.volume;
    j["offset"] = *offset;
    j["length"] = *length;
    if (a.file.empty()) {
      j["data_base64"] = Base64(data);
    } else {
      j["file"] = a.file;
    }
    std::cout << JsonText(j) << "\n";
  } else if (a.file.empty()) {
    if (isatty(STDOUT_FILENO) == 1) {
      HexDump(*offset, data);
    } else {
      std::cout.write(data.data(), data.size());
    }
  }
  return kExitOk;
}

absl::StatusOr<std::string> WriteData(const IoArgs& a) {
  std::string data;
  if (!a.fill.empty()) {
    int byte;
    if (!absl::SimpleHexAtoi(a.fill, &byte) && !absl::SimpleAtoi(a.fill, &byte)) {
      return absl::InvalidArgumentError("--fill wants a byte value, e.g. 0xab");
    }
    if (a.length.empty()) return absl::InvalidArgumentError("--fill needs --length");
    absl::StatusOr<uint64_t> length = ParseSize(a.length);
    if (!length.ok()) return length.status();
    return std::string(*length, static_cast<char>(byte));
  }
  if (a.file.empty() && isatty(STDIN_FILENO) == 1) {
    return absl::InvalidArgumentError("give --file, --fill, or pipe the data on stdin");
  }
  std::ifstream file;
  if (!a.file.empty()) {
    file.open(a.file, std::ios::binary);
    if (!file) return absl::NotFoundError("cannot read " + a.file);
  }
  std::istream& in = a.file.empty() ? std::cin : file;
  if (a.length.empty()) {
    data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return data;
  }
  absl::StatusOr<uint64_t> length = ParseSize(a.length);
  if (!length.ok()) return length.status();
  data.resize(*length);
  in.read(data.data(), data.size());
  if (static_cast<uint64_t>(in.gcount()) != *length) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s holds only %u of the %u bytes to write",
        a.file.empty() ? "stdin" : a.file, in.gcount(), *length));
  }
  return data;
}

int RunWrite(const IoArgs& a) {
  absl::StatusOr<uint64_t> offset = ParseSize(a.offset);
  if (!offset.ok()) return Fail(offset.status(), kExitUsage);
  absl::StatusOr<std::string> data = WriteData(a);
  if (!data.ok()) return Fail(data.status(), kExitUsage);
  auto vol = OpenVolume(a.volume);
  if (!vol.ok()) return FailRpc(vol.status());
  uint64_t chunk = std::max<uint64_t>((*vol)->max_payload(), 512);
  uint64_t done = 0;
  do {
    uint64_t n = std::min<uint64_t>(chunk, data->size() - done);
    absl::Status s = (*vol)->Write(*offset + done, absl::MakeSpan(*data).subspan(done, n), a.fua);
    if (!s.ok()) return FailRpc(s);
    done += n;
  } while (done < data->size());
  if (a.json) {
    nlohmann::json j;
    j["volume"] = a.volume;
    j["offset"] = *offset;
    j["length"] = data->size();
    j["fua"] = a.fua;
    std::cout << JsonText(j) << "\n";
  } else {
    std::cout << absl::StrFormat("%s: wrote %s at offset %u%s\n", a.volume,
                                 FormatSize(data->size()), *offset, a.fua ? " (FUA)" : "");
  }
  return kExitOk;
}

int RunFlush(const std::string& volume, bool json) {
  auto vol = OpenVolume(volume);
  if (!vol.ok()) return FailRpc(vol.status());
  if (absl::Status s = (*vol)->Flush(); !s.ok()) return FailRpc(s);
  if (json) {
    std::cout << JsonText(nlohmann::json{{"volume", volume}, {"flushed", true}}) << "\n";
  } else {
    std::cout << volume << ": flushed\n";
  }
  return kExitOk;
}

}  // namespace

void AddIoCommands(CLI::App& app) {
  auto ra = std::make_shared<IoArgs>();
  CLI::App* read = app.add_subcommand(
      "read", "Read a range of a volume to --file, or to stdout (a hex dump on a terminal)");
  read->add_option("volume", ra->volume, "Volume name")->required();
  read->add_option("--offset", ra->offset, "Byte offset (multiple of 512; K/M/G suffixes)");
  read->add_option("--length", ra->length, "Bytes to read (multiple of 512)")->required();
  read->add_option("--file", ra->file, "Write the data to this file");
  read->add_flag("--json", ra->json, "Print JSON (data in base64 unless --file)");
  UsesConnection(read);
  SetAction(read, [ra] { return RunRead(*ra); });

  auto wa = std::make_shared<IoArgs>();
  CLI::App* write = app.add_subcommand(
      "write", "Write --file (or stdin, or --fill) to a volume at --offset");
  write->add_option("volume", wa->volume, "Volume name")->required();
  write->add_option("--offset", wa->offset, "Byte offset (multiple of 512; K/M/G suffixes)");
  write->add_option("--length", wa->length, "Bytes to write (default: all of the input)");
  write->add_option("--file", wa->file, "Data to write (default: stdin)");
  write->add_option("--fill", wa->fill, "Write --length copies of this byte instead");
  write->add_flag("--fua", wa->fua, "Reply only once the data is durable");
  write->add_flag("--json", wa->json, "Print JSON");
  UsesConnection(write);
  SetAction(write, [wa] { return RunWrite(*wa); });

  auto volume = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  CLI::App* flush = app.add_subcommand(
      "flush", "Make every write acknowledged so far on the volume durable");
  flush->add_option("volume", *volume, "Volume name")->required();
  flush->add_flag("--json", *json, "Print JSON");
  UsesConnection(flush);
  SetAction(flush, [volume, json] { return RunFlush(*volume, *json); });
}

}  // namespace wbctl

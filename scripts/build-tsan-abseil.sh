#!/usr/bin/env bash
# Builds abseil with ThreadSanitizer into PREFIX, from Debian's own source
# package of the installed libabsl-dev (same version, same patches, so the
# same ABI options). Debian's abseil is not instrumented: TSan cannot see
# absl::Mutex there and reports accesses that the mutex does guard.
#
#   scripts/build-tsan-abseil.sh PREFIX
#
# Does nothing when PREFIX already holds a build of the installed version.
set -euo pipefail
prefix=$1
jobs=${JOBS:-$(nproc)}
version=$(dpkg-query -W -f='${Version}' libabsl-dev)
stamp=$prefix/debian-version
if [[ -f $stamp && $(cat "$stamp") == "$version" ]]; then
  exit 0
fi
echo "building abseil $version with ThreadSanitizer into $prefix"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A private apt configuration with the archive's source index, so that the
# system's sources stay as they are.
codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
mkdir -p "$work/apt/lists/partial" "$work/apt/parts"
cat >"$work/apt/parts/debian-src.sources" <<SOURCES
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $codename $codename-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: $codename-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
apt_opts=(-o Dir::Etc::SourceList=/dev/null
          -o Dir::Etc::SourceParts="$work/apt/parts"
          -o Dir::State::Lists="$work/apt/lists"
          -o APT::Sandbox::User=root)
apt-get "${apt_opts[@]}" -qq update
(cd "$work" && apt-get "${apt_opts[@]}" -qq source --download-only "abseil=$version")
dpkg-source --no-check -x "$work"/abseil_*.dsc "$work/src" >/dev/null

# Debian's static build options (debian/rules), plus TSan.
cmake -S "$work/src" -B "$work/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_STANDARD=17 -DBUILD_SHARED_LIBS=OFF -DBUILD_TESTING=OFF \
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
  -DCMAKE_C_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" \
  -DCMAKE_CXX_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" \
  -DCMAKE_INSTALL_PREFIX="$prefix" >/dev/null
cmake --build "$work/build" -j "$jobs" >/dev/null
rm -rf "$prefix"
cmake --install "$work/build" >/dev/null
echo "$version" >"$stamp"

#!/usr/bin/env bash
# Builds the release tarballs behind `make dist`, one per OS/architecture and component, the
# plugin's named and laid out the way `pulumi plugin install` wants them:
#
#   dist/pulumi-resource-auto-deploy-v<VERSION>-<os>-<arch>.tar.gz
#     pulumi-resource-auto-deploy[.exe]   the plugin binary, at the root of the tarball
#     README.md                           (and LICENSE, once the repository has one)
#   dist/pulumi-auto-deploy-relay-v<VERSION>-<os>-<arch>.tar.gz
#     pulumi-auto-deploy-relay[.exe]      the cascade relay (docs/relay.md), at the root
#     relay.md                            docs/relay.md (and LICENSE)
#   dist/SHA256SUMS                       `sha256sum -c` format, every tarball of both
#
# `--server <url>` fetches <url>/<that file name>; a GitHub release tagged v<VERSION> with these
# files as assets serves the schema's pluginDownloadURL (github://api.github.com/<org>/<repo>).
# No PulumiPlugin.yaml: that file marks a plugin run from source by a language host, and
# pulumi would try to install dependencies for it.
#
# The binaries are static (CGO_ENABLED=0), built with -trimpath and carry the version in
# provider.Version. The tarballs are reproducible: sorted entries, fixed modes, owner 0:0,
# mtime SOURCE_DATE_EPOCH (default: the last commit's time), gzip without name or time.
#
# Environment: VERSION (default 0.1.0), LDFLAGS (default: the -X flags stamping the version into the plugin and the relay), GO, DIST
# (default dist/), PLATFORMS (default all six; `host` is this machine's GOOS/GOARCH, which is what
# `make dist-host` builds for the e2e tests and the demo), COMPONENTS (default "plugin relay";
# `make dist-host` builds the plugin alone, which is all the e2e tests install),
# SOURCE_DATE_EPOCH. SHA256SUMS lists exactly the tarballs built, and DIST keeps no tarball of
# an earlier run.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
module=github.com/autodeploy-dev/pulumi-auto-deploy
components=${COMPONENTS:-plugin relay}
version=${VERSION:-0.1.0}
version=${version#v}
ldflags=${LDFLAGS:-"-X $module/provider.Version=$version -X $module/relay.Version=$version"}
go=${GO:-go}
dist=${DIST:-$root/dist}
platforms=${PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64}
[ "$platforms" = host ] && platforms=$("$go" env GOOS)/$("$go" env GOARCH)
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)}

# The Go environment the Makefile exports (it says why), for when this script runs on its own.
export GONOSUMDB=${GONOSUMDB:-github.com/pulumi} GOFLAGS=${GOFLAGS:--mod=mod}

mkdir -p "$dist"
stage=$(mktemp -d "$dist/.stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT

for component in $components; do
  case $component in
    plugin) name=pulumi-resource-auto-deploy docs="README.md LICENSE" ;;
    relay) name=pulumi-auto-deploy-relay docs="docs/relay.md LICENSE" ;;
    *) echo "COMPONENTS: unknown component '$component'; give plugin, relay or both" >&2; exit 2 ;;
  esac
  for platform in $platforms; do
    os=${platform%/*} arch=${platform#*/}
    exe=$name
    [ "$os" = windows ] && exe=$name.exe
    dir="$stage/$name/$os-$arch"
    mkdir -p "$dir"
    echo "building $name v$version for $os/$arch"
    (cd "$root" && CGO_ENABLED=0 GOOS=$os GOARCH=$arch "$go" build -trimpath \
      -ldflags "$ldflags -s -w" -o "$dir/$exe" "./cmd/$name")
    for doc in $docs; do
      [ -f "$root/$doc" ] && cp "$root/$doc" "$dir/$(basename "$doc")"
    done
  done
done

# Pack with Python (which the project needs anyway) rather than tar, whose flags for
# reproducible archives differ between GNU tar and the BSD tar of macOS.
python3 - "$stage" "$version" "$epoch" <<'EOF'
import gzip, hashlib, io, os, sys, tarfile

stage, version, epoch = sys.argv[1], sys.argv[2], int(sys.argv[3])
builds = sorted((name, platform) for name in os.listdir(stage) if os.path.isdir(os.path.join(stage, name))
                for platform in os.listdir(os.path.join(stage, name)))
sums = []
for name, platform in builds:
    src = os.path.join(stage, name, platform)
    tarball = f"{name}-v{version}-{platform}.tar.gz"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for entry in sorted(os.listdir(src)):
            path = os.path.join(src, entry)
            info = tarfile.TarInfo(entry)
            info.size = os.path.getsize(path)
            info.mtime = epoch
            info.mode = 0o755 if entry.startswith(name) else 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            with open(path, "rb") as f:
                tf.addfile(info, f)
    data = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=data, mtime=0, compresslevel=9) as gz:
        gz.write(buf.getvalue())
    with open(os.path.join(stage, tarball), "wb") as f:
        f.write(data.getvalue())
    sums.append(f"{hashlib.sha256(data.getvalue()).hexdigest()}  {tarball}\n")
with open(os.path.join(stage, "SHA256SUMS"), "w") as f:
    f.writelines(sums)
EOF

# Replace the previous release files only now that every platform has built, so DIST never
# holds a mix of old and new tarballs, or checksums that do not match them.
rm -f "$dist"/pulumi-resource-auto-deploy-v*.tar.gz "$dist"/pulumi-auto-deploy-relay-v*.tar.gz "$dist/SHA256SUMS"
mv "$stage"/*.tar.gz "$stage/SHA256SUMS" "$dist/"
cat "$dist/SHA256SUMS"

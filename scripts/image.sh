#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Builds the agent's container image localhost/peregrine:<version> from local files
# only (no registry, no base image): the release tree (scripts/release.sh) at
# /opt/peregrine, this machine's node binary, exactly the shared libraries node and
# the addon load (ldd) plus the dynamic loader, and a minimal /etc. umoci turns the
# rootfs into a one-layer OCI image; the archive is also a docker-archive (a
# manifest.json beside index.json), so `podman load` and Docker 20.10's
# `docker load`, which cannot read an OCI layout, both import the same file.
#
#   sh scripts/image.sh              # build, then load into podman and docker where present
#   IMAGE_LOAD="podman" sh scripts/image.sh     # only podman ("" = build only)
#
# Writes build/image/peregrine-<version>-linux-<arch>.oci.tar. A release tarball or
# an image archive newer than its inputs is reused. Each step prints one line.
set -eu
cd "$(dirname "$0")/.."

say() { printf 'image: %s\n' "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}

command -v umoci >/dev/null 2>&1 || die "umoci not found (Debian: apt-get install umoci)"
node=$(command -v node) || die "node not found in PATH"
node=$(readlink -f "$node")
major=$("$node" -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || die "node $("$node" -v) at $node: the agent needs Node.js 20 or newer"

version=$(node -p 'require("./package.json").version')
arch=$(node -p process.arch)
case "$arch" in
x64) ociarch=amd64 ;;
*) ociarch=$arch ;;
esac
name=peregrine-$version-linux-$arch
tarball=build/release/$name.tar.gz
ref=localhost/peregrine:$version
out=build/image
archive=$out/$name.oci.tar

# The release is rebuilt only when a file it is made from changed since it was packed.
if [ -s "$tarball" ] && [ -z "$(find bin src bpf native policies rules patches proto deploy docs/install.md \
	package.json package-lock.json binding.gyp scripts/release.sh -type f -newer "$tarball" 2>/dev/null | head -n 1)" ]; then
	say "reusing $tarball (newer than its inputs)"
else
	say "building the release (scripts/release.sh)"
	sh scripts/release.sh
fi
[ -s "$tarball" ] || die "release did not produce $tarball"

if [ -s "$archive" ] && [ -z "$(find "$tarball" scripts/image.sh "$node" -newer "$archive" | head -n 1)" ]; then
	say "reusing $archive (newer than the release, this script and node)"
else
	mkdir -p "$out"
	work=$(mktemp -d "$out/build.XXXXXX")
	trap 'rm -rf "$work"' EXIT INT TERM
	layout=$work/layout
	tag=$version
	rootless=
	[ "$(id -u)" = 0 ] || rootless=--rootless

	say "creating an empty OCI image with umoci"
	umoci init --layout "$layout"
	umoci new --image "$layout:$tag"
	umoci unpack $rootless --image "$layout:$tag" "$work/bundle" >/dev/null
	root=$work/bundle/rootfs

	say "rootfs: release tree at /opt/peregrine"
	mkdir -p "$root/opt"
	tar -C "$root/opt" -xzf "$tarball"
	mv "$root/opt/$name" "$root/opt/peregrine"
	commit=$(cat "$root/opt/peregrine/COMMIT")

	say "rootfs: node $("$node" -v) from $node"
	mkdir -p "$root/usr/local/bin"
	cp "$node" "$root/usr/local/bin/node"

	# Exactly what the dynamic loader maps for node and for the addon (libbpf and what
	# it links: libelf, zlib), each at the path ldd resolved it to, so the loader's
	# default search path finds it; plus the loader itself (the line without "=>").
	# The image holds no other library: node opens none at run time (the agent does
	# no DNS lookup, and glibc >= 2.34 has nss_files built in).
	say "rootfs: shared libraries (ldd of node and the addon)"
	libs=$(ldd "$node" "$root/opt/peregrine/build/Release/peregrine_native.node" |
		awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $2 ~ /^\(/ { print $1 }' | sort -u)
	[ -n "$libs" ] || die "ldd listed no libraries for $node"
	for lib in $libs; do
		[ -e "$lib" ] || die "library $lib (from ldd) does not exist"
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
	nlibs=$(printf '%s\n' "$libs" | wc -l)

	say "rootfs: /etc and mount points"
	mkdir -p "$root/etc" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/run/peregrine" "$root/var"
	chmod 1777 "$root/tmp"
	chmod 0700 "$root/run/peregrine"
	# /var/run/docker.sock is where the agent looks for Docker: as on the host, /var/run is /run.
	ln -s ../run "$root/var/run"
	printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$root/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
	printf 'passwd: files\ngroup: files\nhosts: files\n' >"$root/etc/nsswitch.conf"

	say "packing the layer and writing the image config"
	umoci repack --image "$layout:$tag" "$work/bundle" >/dev/null
	created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	umoci config --image "$layout:$tag" \
		--architecture "$ociarch" --os linux \
		--config.entrypoint /usr/local/bin/node --config.entrypoint /opt/peregrine/bin/peregrine.js \
		--config.entrypoint run \
		--config.env PATH=/usr/local/bin:/usr/bin:/bin \
		--config.workingdir /opt/peregrine \
		--config.stopsignal SIGTERM \
		--config.volume /run/peregrine \
		--config.label org.opencontainers.image.title=peregrine \
		--config.label "org.opencontainers.image.description=eBPF runtime-security agent" \
		--config.label "org.opencontainers.image.version=$version" \
		--config.label "org.opencontainers.image.revision=$commit" \
		--config.label "org.opencontainers.image.created=$created" \
		--config.label org.opencontainers.image.licenses=Apache-2.0 \
		--history.created_by "scripts/image.sh: release $name, node $("$node" -v), $nlibs libraries"
	umoci gc --layout "$layout"

	# docker-archive view of the same blobs: Docker 20.10's `docker load` reads only
	# manifest.json (config and layer paths, the name in RepoTags), and it gunzips
	# layers itself, so the OCI blobs serve both formats without a second copy.
	node -e '
const fs = require("node:fs");
const dir = process.argv[1];
const blob = (d) => `blobs/${d.replace(":", "/")}`;
const index = JSON.parse(fs.readFileSync(`${dir}/index.json`, "utf8"));
const manifest = JSON.parse(fs.readFileSync(`${dir}/${blob(index.manifests[0].digest)}`, "utf8"));
fs.writeFileSync(`${dir}/manifest.json`, JSON.stringify([{
  Config: blob(manifest.config.digest),
  RepoTags: [process.argv[2]],
  Layers: manifest.layers.map((l) => blob(l.digest)),
}]) + "\n");
' "$layout" "$ref"
	say "writing $archive"
	tar -C "$layout" --owner=0 --group=0 --numeric-owner -cf "$archive.tmp" . && mv "$archive.tmp" "$archive"
	rm -rf "$work"
	trap - EXIT INT TERM
fi

# The image id, in both podman and docker, is the digest of the config blob.
id=$(tar -xOf "$archive" ./manifest.json | node -e '
const m = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
process.stdout.write(m[0].Config.replace("blobs/sha256/", ""));
')
say "built $ref: $(du -k "$archive" | cut -f1) KiB archive, image id ${id%"${id#????????????}"}"

# load RUNTIME: imports the archive unless RUNTIME already holds this very image.
load() {
	have=$("$1" image inspect --format '{{.Id}}' "$ref" 2>/dev/null || true)
	case "$have" in
	*"$id"*)
		say "$1: $ref is already this image"
		return 0
		;;
	esac
	say "$1 load < $archive"
	loaded=$("$1" load -i "$archive" 2>&1) || die "$1 load failed: $loaded"
	# podman names an image loaded from a docker-archive by its RepoTags, but tag it
	# anyway: whichever format a version picked, the name is then ours.
	"$1" tag "$id" "$ref" >/dev/null 2>&1 || die "$1 could not tag $id as $ref (load said: $loaded)"
	say "$1: loaded $ref"
}

load_list=${IMAGE_LOAD-auto}
if [ "$load_list" = auto ]; then
	load_list=
	command -v podman >/dev/null 2>&1 && load_list=podman
	# docker only when its daemon answers: a client alone cannot load anything.
	if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then load_list="$load_list docker"; fi
fi
for rt in $load_list; do
	command -v "$rt" >/dev/null 2>&1 || die "$rt not found in PATH (IMAGE_LOAD=$IMAGE_LOAD)"
	load "$rt"
done
[ -n "$load_list" ] || say "no podman or docker to load into: import $archive yourself"
say "done: $ref"

// Package oci reads Docker and OCI images, from registries (registry v2
// protocol), OCI image layout directories, OCI archives and `docker save`
// tarballs, and applies their layers into a directory tree.
//
// It feeds saturn's own store (store/): the store keeps each layer blob
// once by digest, verified while it streams, and indexes the image
// (manifest and config) by an appc image id, so pods name Docker images
// the way they name ACIs.
//
// Sources, as rkt and skopeo spell them:
//
//	docker://[REGISTRY/]NAME[:TAG|@sha256:HEX]   a registry; Docker Hub's
//	    defaults as rkt: docker://busybox is
//	    registry-1.docker.io/library/busybox:latest
//	oci:PATH[:REF]            an OCI image layout directory; REF is an
//	    org.opencontainers.image.ref.name annotation of index.json (or
//	    @sha256:HEX, a manifest digest); none picks the only image
//	oci-archive:FILE[:REF]    the same, as a tar archive
//	docker-archive:FILE[:NAME:TAG]  a `docker save` tarball
//
// An image index (multi-arch) resolves to linux and the host's
// architecture. Every manifest, config and layer is checked against the
// digest that names it: a manifest fetched by digest against that digest,
// one fetched by tag against the registry's Docker-Content-Digest; the
// config and layers against the manifest; each layer's uncompressed
// content against the config's diff_ids.
//
// An image's appc image id is "sha512-" and the hex SHA-512 of its image
// manifest's bytes (appc's schema only takes sha512 ids). The manifest
// names its config and layers by digest, so the id pins the whole image,
// and the same image from two sources is one image in the store. How an
// image config becomes an appc app (so stage1 runs Docker apps exactly as
// ACI apps, beside them in one pod) is AppcManifest's documentation.
//
// Layers are applied (Apply) with the untar package, so no entry lands
// outside the tree, whatever its name or the symlinks on its way, with
// OCI whiteouts (".wh.NAME" removes NAME of lower layers, ".wh..wh..opq"
// empties its directory of lower layers' content) and hard links to
// files of the same or a lower layer. Scan checks a layer before it is
// stored: entry names ("..", NUL), entry types, hard link targets, and no
// entry below a symlink of the same layer.
package oci

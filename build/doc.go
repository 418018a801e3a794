// Package build builds images from Dockerfiles, as docker's classic
// builder does, into the layer store: `lfs build`.
//
// # Lifecycle
//
// The caller reads the Dockerfile and names the context (a directory, a
// directory extracted from a tar, or none), then calls [Build]. Build
// parses the Dockerfile ([ParseDockerfile]: buildkit's parser and
// instructions packages), then walks its stages in order, up to the
// target, one step per instruction:
//
//   - FROM starts from scratch, a stage built before, or an image of the
//     store (pulled through [Options.Pull] when missing or with --pull),
//     runs the image's ONBUILD triggers and drops them.
//   - Metadata instructions (ENV, CMD, LABEL, ...) change the config
//     through package change and make an image with an empty_layer
//     history entry.
//   - RUN records a container on the step's parent image, runs it
//     (container.Run: the sandbox on the union filesystem) and writes its
//     upper directory alone as the step's layer (container.WriteLayer);
//     the container goes whatever happens.
//   - COPY, ADD and WORKDIR write their layer tar straight from their
//     sources (the context, another image's or stage's layers, an
//     archive, a download), never through a mount: the parent image is
//     read through its index only to resolve the destination.
//
// Every step's result is an image of the store, the previous step's image
// its parent, runnable by ID; only the last is tagged.
//
// # The layer cache
//
// A step's cache key is the digest of its parent image ID, its history
// line (the instruction after substitution, with the build args a RUN
// sees and the digests of COPY/ADD sources' names, content and metadata,
// mtime left out), and what else changes its result (RUN's network,
// COPY's --chmod). The store keeps key → image IDs (the newest few, so
// that a --no-cache build and its removal lose no older result) in
// meta.db's "build-cache" bucket, written in the same transaction as the
// image (layerstore.Batch.Record). A key hits when one of its images is
// still there and its parent is the step's parent; after the first miss
// of a stage no later step of it looks (a new parent could not hit
// anyway).
//
// # Invariants
//
//   - A build never leaves a mount or a container behind: RUN's container
//     is removed after its layer is written, on failure too, and on
//     SIGINT/SIGTERM the running command is signalled (then killed) and
//     its container removed before Build returns ErrInterrupted.
//   - Layers come from upper directories or source trees alone: a RUN
//     that changes one file of a large image costs that one file.
//   - Dockerfile mistakes are *Error values, "FILE:LINE: message"; a
//     failing RUN is a *RunError carrying the command's status.
package build

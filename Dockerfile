# The init-container image: dist/rootfs/ (made by `npm run build`) on top of a base image.
# dist/rootfs/ holds everything the program needs (the executable, plus the glibc loader
# and libraries when the fallback packager built it), so any base serves: Alpine by
# default, or scratch. Nothing is downloaded while this builds.
ARG BASE_IMAGE=alpine:3.22
FROM ${BASE_IMAGE}

ARG VERSION=unknown
ARG REVISION=unknown
ARG SOURCE=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="download-package" \
      org.opencontainers.image.description="Init container that downloads a package and installs it, verified and atomically, into a shared volume" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.created="${CREATED}"

COPY dist/rootfs/ /

# Non-root (the distroless "nonroot" UID); writes only to PACKAGE_DEST, so a read-only
# root filesystem works.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/download-package"]

#!/usr/bin/env bash
# Build the Tesseract Lambda layer for the functions' runtime: python3.13 runs on Amazon Linux 2023, x86_64.
#
#   bash infra/layers/tesseract/build.sh OUTPUT_DIR
#
# The layer is what Lambda mounts at /opt: bin/tesseract, lib/ (libtesseract, Leptonica and the image libraries
# they load that the runtime lacks) and share/tessdata (eng and osd, tessdata_fast 4.1.0). Tesseract is built with
# prefix /opt, so it finds its language data without TESSDATA_PREFIX, and Lambda puts /opt/bin on PATH and /opt/lib
# on LD_LIBRARY_PATH, so the worker finds it with nothing configured.
#
# Where it runs:
# - on Amazon Linux 2023 (the Dockerfile beside this script, or SAM's build image under `sam build --use-container`,
#   public.ecr.aws/sam/build-python3.13, which is Amazon Linux 2023): it compiles in place;
# - elsewhere, with a working Docker engine: it builds the Dockerfile beside it and copies the layer out;
# - otherwise it stops and says so: binaries built on another distribution would not load on Lambda.
#
# Every download is pinned by version and SHA-256, so two builds ship the same sources and models.
set -euo pipefail

OUT=${1:?usage: build.sh OUTPUT_DIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

LEPTONICA_VERSION=1.84.1
LEPTONICA_SHA256=2b3e1254b1cca381e77c819b59ca99774ff43530209b9aeb511e1d46588a64f6
TESSERACT_VERSION=5.3.4
TESSERACT_SHA256=141afc12b34a14bb691a939b4b122db0d51bd38feda7f41696822bacea7710c7
TESSDATA_VERSION=4.1.0
ENG_SHA256=7d4322bd2a7749724879683fc3912cb542f19906c83bcc1a52132556427170b2
OSD_SHA256=9cf5d576fcc47564f11265841e5ca839001e7e6f38ff7f7aacf46d15a96b00ff
IMAGE_TAG=data-extract-tesseract-layer:${TESSERACT_VERSION}

on_amazon_linux_2023() {
    [ -r /etc/os-release ] && . /etc/os-release && [ "${ID:-}" = amzn ] && [ "${VERSION_ID:-}" = 2023 ]
}

fetch() {  # url sha256 destination
    curl -fsSL --retry 3 -o "$3" "$1"
    echo "$2  $3" | sha256sum -c --quiet -
}

build_here() {
    local work=/tmp/tesseract-layer-build prefix=/opt
    local installer=dnf
    command -v dnf >/dev/null 2>&1 || installer=microdnf
    "$installer" install -y gcc gcc-c++ make cmake pkgconf-pkg-config tar gzip findutils binutils \
        libpng-devel libjpeg-turbo-devel zlib-devel >/dev/null
    rm -rf "$work" && mkdir -p "$work" && cd "$work"

    fetch "https://github.com/DanBloomberg/leptonica/releases/download/${LEPTONICA_VERSION}/leptonica-${LEPTONICA_VERSION}.tar.gz" \
        "$LEPTONICA_SHA256" leptonica.tar.gz
    tar xzf leptonica.tar.gz
    (cd "leptonica-${LEPTONICA_VERSION}" \
        && ./configure --prefix="$prefix" --disable-programs --disable-static \
            --without-giflib --without-libopenjpeg --without-libwebp --without-libwebpmux --without-libtiff \
        && make -j"$(nproc)" >/dev/null && make install >/dev/null)

    fetch "https://github.com/tesseract-ocr/tesseract/archive/refs/tags/${TESSERACT_VERSION}.tar.gz" \
        "$TESSERACT_SHA256" tesseract.tar.gz
    tar xzf tesseract.tar.gz
    # No training tools, no network (curl) or archive support, no GUI: only what reading pages needs.
    PKG_CONFIG_PATH="$prefix/lib/pkgconfig" cmake -S "tesseract-${TESSERACT_VERSION}" -B tesseract-build \
        -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" -DBUILD_SHARED_LIBS=ON \
        -DBUILD_TRAINING_TOOLS=OFF -DDISABLE_CURL=ON -DDISABLE_ARCHIVE=ON -DGRAPHICS_DISABLED=ON \
        -DOPENMP_BUILD=ON -DENABLE_LTO=OFF >/dev/null
    cmake --build tesseract-build -j"$(nproc)" >/dev/null
    cmake --install tesseract-build >/dev/null

    rm -rf "${OUT:?}"/bin "$OUT"/lib "$OUT"/share
    mkdir -p "$OUT/bin" "$OUT/lib" "$OUT/share/tessdata"
    cp "$prefix/bin/tesseract" "$OUT/bin/"
    # Every shared library tesseract loads except glibc's own: the Lambda runtime has glibc and little else.
    ldd "$prefix/bin/tesseract" | awk '/=> \// {print $3}' | while read -r library; do
        case "$(basename "$library")" in
            libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*) ;;
            *) cp -L "$library" "$OUT/lib/" ;;
        esac
    done
    strip --strip-unneeded "$OUT/bin/tesseract" "$OUT"/lib/*.so*
    # The layer ships beside Apache-2.0 code: no copyleft library may come along through a dependency's
    # dependency (libtiff, for one, links GPL-2 libjbig; the worker feeds Tesseract PNM, so leptonica is built
    # without TIFF). Refuse the build rather than ship one.
    for library in "$OUT"/lib/*; do
        case "$(basename "$library")" in
            libjbig*|libgnutls*|libnettle*|libhogweed*|libgmp*|libunistring*|libidn2*|libgcrypt*|libreadline*)
                echo "build.sh: $(basename "$library") is under a copyleft licence; it must not be in the layer" >&2
                exit 1 ;;
        esac
    done

    fetch "https://github.com/tesseract-ocr/tessdata_fast/raw/${TESSDATA_VERSION}/eng.traineddata" "$ENG_SHA256" \
        "$OUT/share/tessdata/eng.traineddata"
    fetch "https://github.com/tesseract-ocr/tessdata_fast/raw/${TESSDATA_VERSION}/osd.traineddata" "$OSD_SHA256" \
        "$OUT/share/tessdata/osd.traineddata"

    # The binary must run from the layer alone, the way Lambda will run it.
    LD_LIBRARY_PATH="$OUT/lib" TESSDATA_PREFIX="$OUT/share/tessdata" "$OUT/bin/tesseract" --list-langs
    {
        echo "tesseract ${TESSERACT_VERSION} (sha256 ${TESSERACT_SHA256})"
        echo "leptonica ${LEPTONICA_VERSION} (sha256 ${LEPTONICA_SHA256})"
        echo "tessdata_fast ${TESSDATA_VERSION}: eng (sha256 ${ENG_SHA256}), osd (sha256 ${OSD_SHA256})"
        echo "built on $(. /etc/os-release && echo "$PRETTY_NAME") $(uname -m)"
    } > "$OUT/share/tessdata/LAYER-CONTENTS.txt"
    rm -rf "$work"
}

build_in_docker() {
    docker build --platform linux/amd64 -t "$IMAGE_TAG" -f "$HERE/Dockerfile" "$HERE"
    local container
    container=$(docker create --platform linux/amd64 "$IMAGE_TAG")
    trap 'docker rm -f "$container" >/dev/null' RETURN
    rm -rf "${OUT:?}"/bin "$OUT"/lib "$OUT"/share
    docker cp "$container:/layer/." "$OUT/"
}

if on_amazon_linux_2023; then
    build_here
elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    build_in_docker
else
    echo >&2 "The Tesseract layer must be built on Amazon Linux 2023 (the Lambda python3.13 runtime's OS): run this"
    echo >&2 "where Docker works, or run 'sam build --use-container', which builds it in SAM's Amazon Linux 2023"
    echo >&2 "build image. (Or deploy with OcrLayerArn=<a Tesseract layer you already have>.)"
    exit 2
fi

echo "Tesseract layer in $OUT: $(du -sh "$OUT" | cut -f1) unzipped"
(cd "$OUT" && find . -type f | sort | xargs ls -l | awk '{printf "  %10d  %s\n", $5, $9}')

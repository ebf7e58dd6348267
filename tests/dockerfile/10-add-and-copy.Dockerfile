FROM scratch
ADD https://example.com/file.tar.gz /tmp/
ADD --chown=1000:1000 --link=false archive.tar.xz /srv/
COPY ["src dir/file one", "dest dir/"]
COPY "quoted name" $DEST
COPY --link=true a b c /multi/
COPY -- --weird-name /x
COPY --parents --chmod=u+x,go-w ./a/./b/*.txt /p/
ADD --unpack=false local.tar.gz /keep/
ADD --unpack https://example.com/remote.tar.gz /unpacked/

FROM node:20
MAINTAINER Jane Doe <jane@example.com>
ONBUILD COPY package.json /app/
ONBUILD RUN --mount=type=cache,target=/root/.npm npm ci
onbuild env NODE_ENV=production

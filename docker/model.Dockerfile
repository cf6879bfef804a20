# A preset model image (what `kaito-<preset>:<tag>` in the preset catalog names): the tuning
# image (kaito-inference + kaito-tune + pusher) with the model's weights at /workspace/weights,
# so one image serves inference Deployments and tuning Jobs of that preset.
#
#   docker build -f docker/model.Dockerfile --build-arg BASE=kaito-tuning:dev \
#     --build-arg WEIGHTS=./weights/phi-3-mini-4k-instruct -t kaito-phi-3-mini-4k-instruct:dev .
ARG BASE=mcr.microsoft.com/aks/kaito/kaito-tuning:0.1.0
FROM ${BASE}
ARG WEIGHTS
COPY ${WEIGHTS} /workspace/weights
ENTRYPOINT []

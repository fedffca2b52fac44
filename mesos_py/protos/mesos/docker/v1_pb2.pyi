from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ImageManifest(_message.Message):
    __slots__ = ("id", "parent", "comment", "created", "container", "container_config", "docker_version", "author", "config", "architecture", "os", "Size")
    class Config(_message.Message):
        __slots__ = ("Hostname", "Entrypoint", "Env", "User", "Cmd", "WorkingDir", "Image", "Labels")
        class LabelsEntry(_message.Message):
            __slots__ = ("key", "value")
            KEY_FIELD_NUMBER: _ClassVar[int]
            VALUE_FIELD_NUMBER: _ClassVar[int]
            key: str
            value: str
            def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
        HOSTNAME_FIELD_NUMBER: _ClassVar[int]
        ENTRYPOINT_FIELD_NUMBER: _ClassVar[int]
        ENV_FIELD_NUMBER: _ClassVar[int]
        USER_FIELD_NUMBER: _ClassVar[int]
        CMD_FIELD_NUMBER: _ClassVar[int]
        WORKINGDIR_FIELD_NUMBER: _ClassVar[int]
        IMAGE_FIELD_NUMBER: _ClassVar[int]
        LABELS_FIELD_NUMBER: _ClassVar[int]
        Hostname: str
        Entrypoint: _containers.RepeatedScalarFieldContainer[str]
        Env: _containers.RepeatedScalarFieldContainer[str]
        User: str
        Cmd: _containers.RepeatedScalarFieldContainer[str]
        WorkingDir: str
        Image: str
        Labels: _containers.ScalarMap[str, str]
        def __init__(self, Hostname: _Optional[str] = ..., Entrypoint: _Optional[_Iterable[str]] = ..., Env: _Optional[_Iterable[str]] = ..., User: _Optional[str] = ..., Cmd: _Optional[_Iterable[str]] = ..., WorkingDir: _Optional[str] = ..., Image: _Optional[str] = ..., Labels: _Optional[_Mapping[str, str]] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_CONFIG_FIELD_NUMBER: _ClassVar[int]
    DOCKER_VERSION_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    id: str
    parent: str
    comment: str
    created: str
    container: str
    container_config: ImageManifest.Config
    docker_version: str
    author: str
    config: ImageManifest.Config
    architecture: str
    os: str
    Size: int
    def __init__(self, id: _Optional[str] = ..., parent: _Optional[str] = ..., comment: _Optional[str] = ..., created: _Optional[str] = ..., container: _Optional[str] = ..., container_config: _Optional[_Union[ImageManifest.Config, _Mapping]] = ..., docker_version: _Optional[str] = ..., author: _Optional[str] = ..., config: _Optional[_Union[ImageManifest.Config, _Mapping]] = ..., architecture: _Optional[str] = ..., os: _Optional[str] = ..., Size: _Optional[int] = ...) -> None: ...

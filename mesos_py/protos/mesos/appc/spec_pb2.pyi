from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ImageManifest(_message.Message):
    __slots__ = ("acKind", "acVersion", "name", "labels", "app", "annotations", "dependencies")
    class Label(_message.Message):
        __slots__ = ("name", "value")
        NAME_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        name: str
        value: str
        def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class Environment(_message.Message):
        __slots__ = ("name", "value")
        NAME_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        name: str
        value: str
        def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class App(_message.Message):
        __slots__ = ("exec", "workingDirectory", "environment")
        EXEC_FIELD_NUMBER: _ClassVar[int]
        WORKINGDIRECTORY_FIELD_NUMBER: _ClassVar[int]
        ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
        exec: _containers.RepeatedScalarFieldContainer[str]
        workingDirectory: str
        environment: _containers.RepeatedCompositeFieldContainer[ImageManifest.Environment]
        def __init__(self, exec: _Optional[_Iterable[str]] = ..., workingDirectory: _Optional[str] = ..., environment: _Optional[_Iterable[_Union[ImageManifest.Environment, _Mapping]]] = ...) -> None: ...
    class Annotation(_message.Message):
        __slots__ = ("name", "value")
        NAME_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        name: str
        value: str
        def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class Dependency(_message.Message):
        __slots__ = ("imageName", "imageID", "labels", "size")
        IMAGENAME_FIELD_NUMBER: _ClassVar[int]
        IMAGEID_FIELD_NUMBER: _ClassVar[int]
        LABELS_FIELD_NUMBER: _ClassVar[int]
        SIZE_FIELD_NUMBER: _ClassVar[int]
        imageName: str
        imageID: str
        labels: _containers.RepeatedCompositeFieldContainer[ImageManifest.Label]
        size: int
        def __init__(self, imageName: _Optional[str] = ..., imageID: _Optional[str] = ..., labels: _Optional[_Iterable[_Union[ImageManifest.Label, _Mapping]]] = ..., size: _Optional[int] = ...) -> None: ...
    ACKIND_FIELD_NUMBER: _ClassVar[int]
    ACVERSION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    APP_FIELD_NUMBER: _ClassVar[int]
    ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    DEPENDENCIES_FIELD_NUMBER: _ClassVar[int]
    acKind: str
    acVersion: str
    name: str
    labels: _containers.RepeatedCompositeFieldContainer[ImageManifest.Label]
    app: ImageManifest.App
    annotations: _containers.RepeatedCompositeFieldContainer[ImageManifest.Annotation]
    dependencies: _containers.RepeatedCompositeFieldContainer[ImageManifest.Dependency]
    def __init__(self, acKind: _Optional[str] = ..., acVersion: _Optional[str] = ..., name: _Optional[str] = ..., labels: _Optional[_Iterable[_Union[ImageManifest.Label, _Mapping]]] = ..., app: _Optional[_Union[ImageManifest.App, _Mapping]] = ..., annotations: _Optional[_Iterable[_Union[ImageManifest.Annotation, _Mapping]]] = ..., dependencies: _Optional[_Iterable[_Union[ImageManifest.Dependency, _Mapping]]] = ...) -> None: ...

from mesos_py.protos.mesos.v1 import mesos_pb2 as _mesos_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ContainerSeccompProfile(_message.Message):
    __slots__ = ("default_action", "architectures", "syscalls")
    class Architecture(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNKNOWN: _ClassVar[ContainerSeccompProfile.Architecture]
        ARCH_X86: _ClassVar[ContainerSeccompProfile.Architecture]
        ARCH_X86_64: _ClassVar[ContainerSeccompProfile.Architecture]
        ARCH_X32: _ClassVar[ContainerSeccompProfile.Architecture]
        ARCH_ARM: _ClassVar[ContainerSeccompProfile.Architecture]
        ARCH_AARCH64: _ClassVar[ContainerSeccompProfile.Architecture]
        ARCH_MIPS: _ClassVar[ContainerSeccompProfile.Architecture]
        ARCH_MIPSEL: _ClassVar[ContainerSeccompProfile.Architecture]
        ARCH_MIPS64: _ClassVar[ContainerSeccompProfile.Architecture]
        ARCH_MIPSEL64: _ClassVar[ContainerSeccompProfile.Architecture]
        ARCH_MIPS64N32: _ClassVar[ContainerSeccompProfile.Architecture]
        ARCH_MIPSEL64N32: _ClassVar[ContainerSeccompProfile.Architecture]
        ARCH_PPC: _ClassVar[ContainerSeccompProfile.Architecture]
        ARCH_PPC64: _ClassVar[ContainerSeccompProfile.Architecture]
        ARCH_PPC64LE: _ClassVar[ContainerSeccompProfile.Architecture]
        ARCH_S390: _ClassVar[ContainerSeccompProfile.Architecture]
        ARCH_S390X: _ClassVar[ContainerSeccompProfile.Architecture]
    UNKNOWN: ContainerSeccompProfile.Architecture
    ARCH_X86: ContainerSeccompProfile.Architecture
    ARCH_X86_64: ContainerSeccompProfile.Architecture
    ARCH_X32: ContainerSeccompProfile.Architecture
    ARCH_ARM: ContainerSeccompProfile.Architecture
    ARCH_AARCH64: ContainerSeccompProfile.Architecture
    ARCH_MIPS: ContainerSeccompProfile.Architecture
    ARCH_MIPSEL: ContainerSeccompProfile.Architecture
    ARCH_MIPS64: ContainerSeccompProfile.Architecture
    ARCH_MIPSEL64: ContainerSeccompProfile.Architecture
    ARCH_MIPS64N32: ContainerSeccompProfile.Architecture
    ARCH_MIPSEL64N32: ContainerSeccompProfile.Architecture
    ARCH_PPC: ContainerSeccompProfile.Architecture
    ARCH_PPC64: ContainerSeccompProfile.Architecture
    ARCH_PPC64LE: ContainerSeccompProfile.Architecture
    ARCH_S390: ContainerSeccompProfile.Architecture
    ARCH_S390X: ContainerSeccompProfile.Architecture
    class Syscall(_message.Message):
        __slots__ = ("names", "action", "args", "includes", "excludes")
        class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
            __slots__ = ()
            UNKNOWN: _ClassVar[ContainerSeccompProfile.Syscall.Action]
            ACT_KILL: _ClassVar[ContainerSeccompProfile.Syscall.Action]
            ACT_TRAP: _ClassVar[ContainerSeccompProfile.Syscall.Action]
            ACT_ERRNO: _ClassVar[ContainerSeccompProfile.Syscall.Action]
            ACT_TRACE: _ClassVar[ContainerSeccompProfile.Syscall.Action]
            ACT_ALLOW: _ClassVar[ContainerSeccompProfile.Syscall.Action]
        UNKNOWN: ContainerSeccompProfile.Syscall.Action
        ACT_KILL: ContainerSeccompProfile.Syscall.Action
        ACT_TRAP: ContainerSeccompProfile.Syscall.Action
        ACT_ERRNO: ContainerSeccompProfile.Syscall.Action
        ACT_TRACE: ContainerSeccompProfile.Syscall.Action
        ACT_ALLOW: ContainerSeccompProfile.Syscall.Action
        class Arg(_message.Message):
            __slots__ = ("index", "op", "value", "value_two")
            class Operator(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
                __slots__ = ()
                UNKNOWN: _ClassVar[ContainerSeccompProfile.Syscall.Arg.Operator]
                CMP_NE: _ClassVar[ContainerSeccompProfile.Syscall.Arg.Operator]
                CMP_LT: _ClassVar[ContainerSeccompProfile.Syscall.Arg.Operator]
                CMP_LE: _ClassVar[ContainerSeccompProfile.Syscall.Arg.Operator]
                CMP_EQ: _ClassVar[ContainerSeccompProfile.Syscall.Arg.Operator]
                CMP_GE: _ClassVar[ContainerSeccompProfile.Syscall.Arg.Operator]
                CMP_GT: _ClassVar[ContainerSeccompProfile.Syscall.Arg.Operator]
                CMP_MASKED_EQ: _ClassVar[ContainerSeccompProfile.Syscall.Arg.Operator]
            UNKNOWN: ContainerSeccompProfile.Syscall.Arg.Operator
            CMP_NE: ContainerSeccompProfile.Syscall.Arg.Operator
            CMP_LT: ContainerSeccompProfile.Syscall.Arg.Operator
            CMP_LE: ContainerSeccompProfile.Syscall.Arg.Operator
            CMP_EQ: ContainerSeccompProfile.Syscall.Arg.Operator
            CMP_GE: ContainerSeccompProfile.Syscall.Arg.Operator
            CMP_GT: ContainerSeccompProfile.Syscall.Arg.Operator
            CMP_MASKED_EQ: ContainerSeccompProfile.Syscall.Arg.Operator
            INDEX_FIELD_NUMBER: _ClassVar[int]
            OP_FIELD_NUMBER: _ClassVar[int]
            VALUE_FIELD_NUMBER: _ClassVar[int]
            VALUE_TWO_FIELD_NUMBER: _ClassVar[int]
            index: int
            op: ContainerSeccompProfile.Syscall.Arg.Operator
            value: int
            value_two: int
            def __init__(self, index: _Optional[int] = ..., op: _Optional[_Union[ContainerSeccompProfile.Syscall.Arg.Operator, str]] = ..., value: _Optional[int] = ..., value_two: _Optional[int] = ...) -> None: ...
        class Filter(_message.Message):
            __slots__ = ("capabilities",)
            CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
            capabilities: _containers.RepeatedScalarFieldContainer[_mesos_pb2.CapabilityInfo.Capability]
            def __init__(self, capabilities: _Optional[_Iterable[_Union[_mesos_pb2.CapabilityInfo.Capability, str]]] = ...) -> None: ...
        NAMES_FIELD_NUMBER: _ClassVar[int]
        ACTION_FIELD_NUMBER: _ClassVar[int]
        ARGS_FIELD_NUMBER: _ClassVar[int]
        INCLUDES_FIELD_NUMBER: _ClassVar[int]
        EXCLUDES_FIELD_NUMBER: _ClassVar[int]
        names: _containers.RepeatedScalarFieldContainer[str]
        action: ContainerSeccompProfile.Syscall.Action
        args: _containers.RepeatedCompositeFieldContainer[ContainerSeccompProfile.Syscall.Arg]
        includes: ContainerSeccompProfile.Syscall.Filter
        excludes: ContainerSeccompProfile.Syscall.Filter
        def __init__(self, names: _Optional[_Iterable[str]] = ..., action: _Optional[_Union[ContainerSeccompProfile.Syscall.Action, str]] = ..., args: _Optional[_Iterable[_Union[ContainerSeccompProfile.Syscall.Arg, _Mapping]]] = ..., includes: _Optional[_Union[ContainerSeccompProfile.Syscall.Filter, _Mapping]] = ..., excludes: _Optional[_Union[ContainerSeccompProfile.Syscall.Filter, _Mapping]] = ...) -> None: ...
    DEFAULT_ACTION_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURES_FIELD_NUMBER: _ClassVar[int]
    SYSCALLS_FIELD_NUMBER: _ClassVar[int]
    default_action: ContainerSeccompProfile.Syscall.Action
    architectures: _containers.RepeatedScalarFieldContainer[ContainerSeccompProfile.Architecture]
    syscalls: _containers.RepeatedCompositeFieldContainer[ContainerSeccompProfile.Syscall]
    def __init__(self, default_action: _Optional[_Union[ContainerSeccompProfile.Syscall.Action, str]] = ..., architectures: _Optional[_Iterable[_Union[ContainerSeccompProfile.Architecture, str]]] = ..., syscalls: _Optional[_Iterable[_Union[ContainerSeccompProfile.Syscall, _Mapping]]] = ...) -> None: ...

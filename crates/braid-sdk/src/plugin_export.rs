//! `export_plugin!`: turns a connector crate into a dynamic-library plugin
//! (feature `plugin`). See `docs/writing-a-connector.md`.

/// Exports `$connector` (an expression building your [`Connector`](crate::Connector),
/// e.g. a unit struct) through the braid plugin C ABI, so the crate, built
/// with `crate-type = ["cdylib"]`, loads as `connector: plugin:<path or name>`.
///
/// Use it once per library, at the crate root:
///
/// ```text
/// braid_sdk::export_plugin!(MyConnector);
/// ```
///
/// It defines the `#[no_mangle]` functions of `braid_plugin::abi`
/// (`braid_plugin_abi_version`, `braid_source_read`, …); all of them catch
/// panics and return them as errors, so keep `panic = "unwind"`.
#[macro_export]
macro_rules! export_plugin {
    ($connector:expr) => {
        #[doc(hidden)]
        fn __braid_plugin_make() -> ::std::boxed::Box<dyn $crate::Connector> {
            ::std::boxed::Box::new($connector)
        }

        #[doc(hidden)]
        static __BRAID_PLUGIN_GUEST: $crate::plugin::guest::Guest =
            $crate::plugin::guest::Guest::new(__braid_plugin_make);

        /// The braid plugin ABI version this library speaks.
        #[unsafe(no_mangle)]
        pub extern "C" fn braid_plugin_abi_version() -> u32 {
            $crate::plugin::abi::ABI_VERSION
        }

        /// The connector's spec as JSON.
        ///
        /// # Safety
        /// See `braid_plugin::abi`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn braid_plugin_spec(out: *mut *mut ::std::ffi::c_char) -> i32 {
            unsafe { __BRAID_PLUGIN_GUEST.spec(out) }
        }

        /// Frees a string this library returned.
        ///
        /// # Safety
        /// See `braid_plugin::abi`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn braid_plugin_string_free(s: *mut ::std::ffi::c_char) {
            unsafe { $crate::plugin::guest::Guest::string_free(s) }
        }

        /// Routes this library's `tracing` events to the host.
        #[unsafe(no_mangle)]
        pub extern "C" fn braid_plugin_set_logger(log: $crate::plugin::abi::LogFn, max_level: u32) {
            $crate::plugin::guest::Guest::set_logger(log, max_level)
        }

        /// Builds a source from config JSON.
        ///
        /// # Safety
        /// See `braid_plugin::abi`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn braid_source_build(
            config: *const ::std::ffi::c_char,
            out: *mut *mut $crate::plugin::abi::SourceHandle,
            err: *mut *mut ::std::ffi::c_char,
        ) -> i32 {
            unsafe { __BRAID_PLUGIN_GUEST.source_build(config, out, err) }
        }

        /// Drops a source.
        ///
        /// # Safety
        /// See `braid_plugin::abi`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn braid_source_free(source: *mut $crate::plugin::abi::SourceHandle) {
            unsafe { __BRAID_PLUGIN_GUEST.source_free(source) }
        }

        /// Checks a source.
        ///
        /// # Safety
        /// See `braid_plugin::abi`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn braid_source_check(
            source: *mut $crate::plugin::abi::SourceHandle,
            out: *mut *mut ::std::ffi::c_char,
        ) -> i32 {
            unsafe { __BRAID_PLUGIN_GUEST.source_check(source, out) }
        }

        /// Discovers a source's catalog.
        ///
        /// # Safety
        /// See `braid_plugin::abi`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn braid_source_discover(
            source: *mut $crate::plugin::abi::SourceHandle,
            out: *mut *mut ::std::ffi::c_char,
        ) -> i32 {
            unsafe { __BRAID_PLUGIN_GUEST.source_discover(source, out) }
        }

        /// A discovered stream's Arrow schema.
        ///
        /// # Safety
        /// See `braid_plugin::abi`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn braid_source_schema(
            source: *mut $crate::plugin::abi::SourceHandle,
            stream: *const ::std::ffi::c_char,
            out: *mut $crate::plugin::arrow_schema::ffi::FFI_ArrowSchema,
            err: *mut *mut ::std::ffi::c_char,
        ) -> i32 {
            unsafe { __BRAID_PLUGIN_GUEST.source_schema(source, stream, out, err) }
        }

        /// Starts a read.
        ///
        /// # Safety
        /// See `braid_plugin::abi`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn braid_source_read(
            source: *mut $crate::plugin::abi::SourceHandle,
            request: *const ::std::ffi::c_char,
            out: *mut *mut $crate::plugin::abi::ReadHandle,
            err: *mut *mut ::std::ffi::c_char,
        ) -> i32 {
            unsafe { __BRAID_PLUGIN_GUEST.source_read(source, request, out, err) }
        }

        /// One stream's batches as an Arrow C stream.
        ///
        /// # Safety
        /// See `braid_plugin::abi`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn braid_read_stream(
            read: *mut $crate::plugin::abi::ReadHandle,
            stream: *const ::std::ffi::c_char,
            out: *mut $crate::plugin::arrow_array::ffi_stream::FFI_ArrowArrayStream,
            err: *mut *mut ::std::ffi::c_char,
        ) -> i32 {
            unsafe { __BRAID_PLUGIN_GUEST.read_stream(read, stream, out, err) }
        }

        /// The read's next message.
        ///
        /// # Safety
        /// See `braid_plugin::abi`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn braid_read_next(
            read: *mut $crate::plugin::abi::ReadHandle,
            out: *mut *mut ::std::ffi::c_char,
        ) -> i32 {
            unsafe { __BRAID_PLUGIN_GUEST.read_next(read, out) }
        }

        /// Stops and drops a read.
        ///
        /// # Safety
        /// See `braid_plugin::abi`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn braid_read_free(read: *mut $crate::plugin::abi::ReadHandle) {
            unsafe { __BRAID_PLUGIN_GUEST.read_free(read) }
        }
    };
}

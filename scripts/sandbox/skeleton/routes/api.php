<?php

use Illuminate\Support\Facades\DB;
use Illuminate\Support\Facades\Route;

// A tiny stand-in for DreamFactory's REST API: reads the system database.
Route::get('/v2/system/service', function () {
    return response()->json([
        'resource' => DB::table('service')->select('id', 'name', 'label', 'type', 'is_active')->orderBy('id')->get(),
    ]);
});

Route::get('/v2/system/user', function () {
    return response()->json([
        'resource' => DB::table('user')->select('id', 'name', 'email', 'is_sys_admin')->orderBy('id')->get(),
    ]);
});

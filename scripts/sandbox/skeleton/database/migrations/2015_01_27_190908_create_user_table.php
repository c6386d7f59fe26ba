<?php

use Illuminate\Database\Migrations\Migration;
use Illuminate\Database\Schema\Blueprint;
use Illuminate\Support\Facades\Schema;

class CreateUserTable extends Migration
{
    public function up()
    {
        Schema::create('user', function (Blueprint $t) {
            $t->increments('id');
            $t->string('name');
            $t->string('first_name')->nullable();
            $t->string('last_name')->nullable();
            $t->string('email')->unique();
            $t->string('password')->nullable();
            $t->boolean('is_sys_admin')->default(0);
            $t->boolean('is_active')->default(1);
            $t->timestamp('created_date')->nullable();
            $t->timestamp('last_modified_date')->nullable();
        });
    }

    public function down()
    {
        Schema::dropIfExists('user');
    }
}

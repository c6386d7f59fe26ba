<?php

use Illuminate\Database\Migrations\Migration;
use Illuminate\Database\Schema\Blueprint;
use Illuminate\Support\Facades\Schema;

class CreateRoleTable extends Migration
{
    public function up()
    {
        Schema::create('role', function (Blueprint $t) {
            $t->increments('id');
            $t->string('name', 64)->unique();
            $t->string('description')->nullable();
            $t->boolean('is_active')->default(0);
            $t->timestamp('created_date')->nullable();
            $t->timestamp('last_modified_date')->nullable();
        });
    }

    public function down()
    {
        Schema::dropIfExists('role');
    }
}
